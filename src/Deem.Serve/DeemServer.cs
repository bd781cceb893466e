using System.Text.Json;
using System.Text.Json.Nodes;
using Deem.Inference;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Deem.Serve;

/// <summary>
/// `deem serve`: an OpenAI-compatible HTTP server over one loaded model (ASP.NET Core minimal APIs on
/// Kestrel). Routes: <c>POST /v1/chat/completions</c> (<see cref="ChatEndpoint"/>),
/// <c>POST /v1/images/generations</c>, <c>GET /v1/models</c>, <c>GET /health</c> (the process is up; queue and request counters),
/// <c>GET /ready</c> (the model is loaded; 503 before). The server listens at once and loads the model
/// on the <see cref="GenerationWorker"/>'s thread; model routes answer 503 until it is there. Every
/// failure, unknown routes included, is OpenAI's error body.
/// </summary>
public static class DeemServer
{
    /// <summary>Builds the app (not started) over <paramref name="worker"/>.</summary>
    public static WebApplication Build(ServeSettings settings, GenerationWorker worker)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = settings.MaxBodyBytes;
            k.AddServerHeader = false;
        });
        builder.WebHost.UseUrls($"http://{(settings.Host.Contains(':') ? $"[{settings.Host}]" : settings.Host)}:{settings.Port}");
        builder.Services.AddSingleton(worker);
        var app = builder.Build();

        app.Use(async (context, next) =>
        {
            try { await next(context); }
            catch (ApiException e) { await WriteError(context, e); }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                await WriteError(context, ApiException.TooLarge(settings.MaxBodyBytes));
            }
            catch (BadHttpRequestException e) { await WriteError(context, ApiException.BadRequest(e.Message)); }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested) { }
            catch (Exception e) when (!context.Response.HasStarted)
            {
                await WriteError(context, new ApiException(500, $"{e.GetType().Name}: {e.Message}", "server_error", null, "internal_error"));
            }
        });
        app.UseStatusCodePages(async status =>
        {
            var context = status.HttpContext;
            var code = context.Response.StatusCode;
            await WriteError(context, code == 404
                ? ApiException.NotFound($"no route {context.Request.Method} {context.Request.Path}", "unknown_url")
                : new ApiException(code, $"{context.Request.Method} {context.Request.Path}: HTTP {code}", "invalid_request_error"));
        });

        app.MapGet("/health", () => Results.Json(new JsonObject
        {
            ["status"] = "ok",
            ["ready"] = worker.Pipeline is not null,
            ["waiting"] = worker.Waiting,
            ["served"] = worker.Served,
            ["cancelled"] = worker.Cancelled,
        }));
        app.MapGet("/ready", () =>
        {
            if (worker.Pipeline is null) throw ApiException.NotReady(worker.NotReadyReason);
            return Results.Json(new JsonObject { ["status"] = "ready", ["model"] = settings.Id });
        });
        app.MapGet("/v1/models", () => Results.Json(new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray(ModelEntry(settings, worker)),
        }));
        app.MapGet("/v1/models/{id}", (string id) => id == settings.Id ? Results.Json(ModelEntry(settings, worker))
            : throw ApiException.NotFound($"the model '{id}' does not exist; this server has '{settings.Id}'", "model_not_found", "model"));
        app.MapPost("/v1/chat/completions", (HttpContext context) => ChatEndpoint.Handle(context, settings, worker));
        app.MapPost("/v1/images/generations", (HttpContext context) => ImagesEndpoint(context, settings, worker));
        return app;
    }

    /// <summary>Runs until <paramref name="stop"/>; <paramref name="started"/> gets the listening address.</summary>
    public static async Task Run(ServeSettings settings, Action<string> started, CancellationToken stop)
    {
        settings.Validate();
        Deem.Model.DeemCheckpoint.Require(settings.ModelDir);        // the load itself runs on the worker
        using var worker = new GenerationWorker(settings, () => DeemPipeline.Load(settings.ModelDir, settings.MaxContext, settings.Placement));
        await using var app = Build(settings, worker);
        await app.StartAsync(stop);
        started(string.Join(" ", app.Urls));
        _ = worker.Loaded.ContinueWith(t => Console.Error.WriteLine(t.IsFaulted
            ? $"error: {worker.NotReadyReason} (the server stays up and answers 503)"
            : $"model {settings.Id} loaded"), TaskScheduler.Default);
        try { await Task.Delay(Timeout.Infinite, stop); }
        catch (OperationCanceledException) { }
        await app.StopAsync(CancellationToken.None);
    }

    /// <summary>The body of a request, at most <see cref="ServeSettings.MaxBodyBytes"/> (413 beyond).</summary>
    public static async Task<JsonElement> ReadBody(HttpContext context, ServeSettings settings)
    {
        if (context.Request.ContentLength > settings.MaxBodyBytes) throw ApiException.TooLarge(settings.MaxBodyBytes);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            if (buffer.Length + read > settings.MaxBodyBytes) throw ApiException.TooLarge(settings.MaxBodyBytes);
            buffer.Write(chunk, 0, read);
        }
        return RequestReader.Parse(buffer.ToArray());
    }

    /// <summary>404 when the request names another model.</summary>
    public static void CheckModel(JsonElement body, ServeSettings settings)
    {
        if (RequestReader.Model(body) is string m && m != settings.Id)
            throw ApiException.NotFound($"the model '{m}' does not exist; this server has '{settings.Id}'", "model_not_found", "model");
    }

    static async Task ImagesEndpoint(HttpContext context, ServeSettings settings, GenerationWorker worker)
    {
        var pipeline = worker.Ready();
        var body = await ReadBody(context, settings);
        CheckModel(body, settings);
        var (prompt, n, dataUrl, seed) = RequestReader.Images(body, pipeline.Model.Config.DecoderResolution);
        try { _ = pipeline.Images; }
        catch (ModelCapabilityException e) { throw ApiException.BadRequest(e.Message, "model", "model_capability"); }
        var options = new ImageGenerationOptions(settings.ImageSteps, settings.ImageScheduler, Seed: seed);
        var pngs = await worker.SubmitImages(prompt, n, options, context.RequestAborted);
        var data = new JsonArray(pngs.Select(png => (JsonNode)(dataUrl
            ? new JsonObject { ["url"] = "data:image/png;base64," + Convert.ToBase64String(png) }
            : new JsonObject { ["b64_json"] = Convert.ToBase64String(png) })).ToArray());
        await context.Response.WriteAsJsonAsync(new JsonObject { ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(), ["data"] = data });
    }

    static JsonObject ModelEntry(ServeSettings settings, GenerationWorker worker) => new()
    {
        ["id"] = settings.Id,
        ["object"] = "model",
        ["created"] = new DateTimeOffset(Directory.GetLastWriteTimeUtc(settings.ModelDir)).ToUnixTimeSeconds(),
        ["owned_by"] = "deemsharp",
        ["context_length"] = worker.MaxContext,
    };

    /// <summary>Writes <paramref name="error"/> as OpenAI's error body with its status (when nothing was sent yet).</summary>
    public static async Task WriteError(HttpContext context, ApiException error)
    {
        if (context.Response.HasStarted) return;
        context.Response.Clear();
        context.Response.StatusCode = error.Status;
        context.Features.Get<IStatusCodePagesFeature>()?.Enabled = false;
        await context.Response.WriteAsJsonAsync(error.Body());
    }
}
