using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Deem.Inference;

namespace Deem.Serve;

/// <summary>Figures of one load run.</summary>
/// <param name="Clients">Concurrent clients.</param>
/// <param name="Requests">Completed requests under load.</param>
/// <param name="Errors">Failed requests (any status but 200), e.g. 429 when the queue was full.</param>
/// <param name="P50Ms">Median request latency under load.</param>
/// <param name="P99Ms">99th percentile latency under load.</param>
/// <param name="TokensPerSecond">Generated tokens per second under load, all clients together.</param>
/// <param name="SingleTokensPerSecond">Generated tokens per second of one client alone.</param>
/// <param name="SingleP50Ms">Median latency of one client alone.</param>
/// <param name="RssBeforeMb">Resident memory of the process after warm-up, before the load.</param>
/// <param name="RssAfterMb">Resident memory right after the load.</param>
/// <param name="RssPeakMb">Highest resident memory sampled during the load.</param>
public sealed record ServeBenchmarkResult(int Clients, int Requests, int Errors, double P50Ms, double P99Ms, double TokensPerSecond,
    double SingleTokensPerSecond, double SingleP50Ms, double RssBeforeMb, double RssAfterMb, double RssPeakMb);

/// <summary>
/// Load on loopback: a `deem serve` app in this process on a free port, first one client alone for a
/// few seconds, then <c>clients</c> concurrent clients for <c>seconds</c>, each sending chat completions
/// back to back (seeded sampling, exactly <c>maxTokens</c> generated per request via min_tokens), and
/// the resident memory of the process before, during and after. Clients and server share the process
/// and its cores, so the figures are a lower bound of the server alone.
/// </summary>
public static class ServeBenchmark
{
    public static async Task<ServeBenchmarkResult> Run(ServeSettings settings, int clients, double seconds, int maxTokens, Action<string> log)
    {
        if (clients < 1) throw new ArgumentException($"--clients = {clients}: must be ≥ 1");
        if (seconds <= 0) throw new ArgumentException($"--seconds = {seconds}: must be > 0");
        settings = (settings with { Host = "127.0.0.1", Port = 0, MaxQueue = Math.Max(settings.MaxQueue, clients) }).Validate();
        using var worker = new GenerationWorker(settings, () => DeemPipeline.Load(settings.ModelDir, settings.MaxContext, settings.Placement));
        await using var app = DeemServer.Build(settings, worker);
        await app.StartAsync();
        await worker.Loaded;
        var url = app.Urls.First() + "/v1/chat/completions";
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients + 1 }) { Timeout = TimeSpan.FromMinutes(10) };

        log($"server {app.Urls.First()}, model {settings.Id}, batch ≤ {settings.MaxBatch} rows, {maxTokens} tokens per request");
        await Client(http, url, maxTokens, 0, TimeSpan.FromSeconds(1), new List<(double, int)>());           // warm-up
        var single = new List<(double Ms, int Tokens)>();
        var singleTime = Stopwatch.StartNew();
        await Client(http, url, maxTokens, 1, TimeSpan.FromSeconds(Math.Min(5, seconds / 2)), single);
        double singleSeconds = singleTime.Elapsed.TotalSeconds;
        log($"1 client: {single.Count} requests in {singleSeconds:F1} s");

        GC.Collect();
        double rssBefore = Rss();
        double peak = rssBefore;
        var results = Enumerable.Range(0, clients).Select(_ => new List<(double Ms, int Tokens)>()).ToArray();
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, Rss());
                try { await Task.Delay(250, sampling.Token); } catch (OperationCanceledException) { }
            }
        });
        var loadTime = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Client(http, url, maxTokens, 1000 + c, TimeSpan.FromSeconds(seconds), results[c])));
        double loadSeconds = loadTime.Elapsed.TotalSeconds;
        sampling.Cancel();
        await sampler;
        double rssAfter = Rss();
        await app.StopAsync();

        var ok = results.SelectMany(r => r).Where(r => r.Tokens >= 0).Select(r => r.Ms).Order().ToArray();
        int errors = results.Sum(r => r.Count(x => x.Tokens < 0));
        double P(double[] sorted, double q) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
        var singleSorted = single.Select(s => s.Ms).Order().ToArray();
        return new ServeBenchmarkResult(clients, ok.Length, errors, P(ok, 0.5), P(ok, 0.99),
            results.Sum(r => r.Where(x => x.Tokens > 0).Sum(x => x.Tokens)) / loadSeconds,
            single.Sum(s => s.Tokens) / singleSeconds, P(singleSorted, 0.5),
            rssBefore, rssAfter, peak);
    }

    /// <summary>One client: requests back to back until <paramref name="duration"/> has passed; tokens −1 marks a failure.</summary>
    static async Task Client(HttpClient http, string url, int maxTokens, int id, TimeSpan duration, List<(double Ms, int Tokens)> results)
    {
        var until = DateTime.UtcNow + duration;
        for (int k = 0; DateTime.UtcNow < until; k++)
        {
            var body = new JsonObject
            {
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = $"Describe picture {id}-{k} briefly." }),
                ["max_tokens"] = maxTokens,
                ["min_tokens"] = maxTokens,
                ["temperature"] = 0.8,
                ["seed"] = id * 100_000 + k,
            };
            var sw = Stopwatch.StartNew();
            using var response = await http.PostAsJsonAsync(url, body);
            var text = await response.Content.ReadAsStringAsync();
            sw.Stop();
            int tokens = -1;
            if (response.IsSuccessStatusCode)
            {
                using var doc = JsonDocument.Parse(text);
                tokens = doc.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
            }
            results.Add((sw.Elapsed.TotalMilliseconds, tokens));
        }
    }

    static double Rss()
    {
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        return self.WorkingSet64 / (1024.0 * 1024.0);
    }
}
