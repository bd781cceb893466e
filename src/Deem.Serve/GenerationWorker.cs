using System.Threading.Channels;
using Deem.Inference;
using static TorchSharp.torch;

namespace Deem.Serve;

/// <summary>
/// The one owner of the model: a single thread loads the model folder once, then takes requests
/// from a bounded queue in arrival order. Text requests waiting together are decoded as one
/// left-padded batch (<see cref="BatchDecoder"/>): the first waiting request, then every request
/// behind it that still fits (at most <see cref="ServeSettings.MaxBatch"/> rows, no row's token budget
/// clipped by the batch's longest prompt) — the batch is formed when the worker becomes free, so a
/// request never waits for others to arrive. Image generation and interleaved answers run alone.
/// One model copy, one thread touching it; every tensor of a batch is freed when the batch ends.
/// </summary>
public sealed class GenerationWorker : IDisposable
{
    readonly ServeSettings settings;
    readonly Channel<object> queue = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    readonly Thread thread;
    readonly TaskCompletionSource loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly CancellationTokenSource stopping = new();
    int waiting;
    long served, cancelled;
    DeemPipeline? pipeline;

    sealed record ImageJob(string Prompt, int N, ImageGenerationOptions Options, CancellationToken Cancel, TaskCompletionSource<byte[][]> Result);

    /// <param name="settings">Queue and batch limits.</param>
    /// <param name="load">Loads the pipeline (on the worker's thread).</param>
    public GenerationWorker(ServeSettings settings, Func<DeemPipeline> load)
    {
        this.settings = settings;
        thread = new Thread(() => Loop(load)) { IsBackground = true, Name = "deem-generation" };
        thread.Start();
    }

    /// <summary>Completes when the model is loaded (faults with the load error).</summary>
    public Task Loaded => loaded.Task;

    /// <summary>The loaded pipeline, or null while loading or after a failed load.</summary>
    public DeemPipeline? Pipeline => Volatile.Read(ref pipeline);

    /// <summary>Why the model is not there: loading, or the load error.</summary>
    public string NotReadyReason => loaded.Task.IsFaulted
        ? $"the model failed to load: {loaded.Task.Exception!.InnerException!.Message}"
        : "the model is still loading";

    /// <summary>The longest prompt + answer.</summary>
    public int MaxContext => Pipeline?.Text.MaxContext ?? 0;

    /// <summary>Requests waiting (not yet taken by the worker).</summary>
    public int Waiting => Volatile.Read(ref waiting);

    /// <summary>Requests answered so far (completed, cancelled or failed).</summary>
    public long Served => Interlocked.Read(ref served);

    /// <summary>Requests whose generation stopped early because their client left.</summary>
    public long Cancelled => Interlocked.Read(ref cancelled);

    /// <summary>The loaded pipeline, or 503.</summary>
    public DeemPipeline Ready() => Pipeline ?? throw ApiException.NotReady(NotReadyReason);

    /// <summary>
    /// Builds the request's prompt (400 for a bad conversation) and queues it; 503 before the model is
    /// loaded, 429 when <see cref="ServeSettings.MaxQueue"/> requests already wait.
    /// </summary>
    public ChatJob Submit(ChatRequest request, CancellationToken cancel)
    {
        var p = Ready();
        for (int c = 0; c < request.Sampling.N; c++) request.Sampling.Options(c).Validate();
        var prompt = ChatPrompt.Build(p, request.Turns, settings.MaxImages, p.Text.MaxContext);
        var job = new ChatJob(request, prompt, p.Codec, cancel);
        try { Enqueue(job); }
        catch { prompt.Images?.Dispose(); throw; }
        return job;
    }

    /// <summary>Queues a job whose prompt is built (it waits while the model loads; 429 when the queue is full).</summary>
    public void Submit(ChatJob job) => Enqueue(job);

    /// <summary>Queues the generation of <paramref name="n"/> images (seeds Seed, Seed + 1, …) as PNG bytes.</summary>
    public Task<byte[][]> SubmitImages(string prompt, int n, ImageGenerationOptions options, CancellationToken cancel)
    {
        Ready();
        var job = new ImageJob(prompt, n, options, cancel, new TaskCompletionSource<byte[][]>(TaskCreationOptions.RunContinuationsAsynchronously));
        Enqueue(job);
        return job.Result.Task;
    }

    void Enqueue(object job)
    {
        if (Interlocked.Increment(ref waiting) > settings.MaxQueue)
        {
            Interlocked.Decrement(ref waiting);
            throw ApiException.QueueFull(settings.MaxQueue);
        }
        if (!queue.Writer.TryWrite(job))
        {
            Interlocked.Decrement(ref waiting);
            throw ApiException.NotReady("the server is shutting down");
        }
    }

    object? Take()
    {
        try
        {
            if (!queue.Reader.WaitToReadAsync(stopping.Token).AsTask().GetAwaiter().GetResult()) return null;
        }
        catch (OperationCanceledException) { return null; }
        if (!queue.Reader.TryRead(out var job)) return null;
        Interlocked.Decrement(ref waiting);
        return job;
    }

    void Loop(Func<DeemPipeline> load)
    {
        try
        {
            Volatile.Write(ref pipeline, load());
            loaded.SetResult();
        }
        catch (Exception e)
        {
            loaded.SetException(e);
            queue.Writer.TryComplete();
            while (queue.Reader.TryRead(out var job)) Abandon(job, ApiException.NotReady(NotReadyReason));
            return;
        }
        var p = pipeline!;
        while (Take() is object job)
        {
            try
            {
                switch (job)
                {
                    case ChatJob chat when chat.Request.ImageOutput == ImageOutput.DataUrl: RunInterleaved(p, chat); break;
                    case ChatJob chat: RunBatch(p, Gather(chat, p.Text.MaxContext)); break;
                    case ImageJob image: RunImages(p, image); break;
                }
            }
            catch (Exception e)
            {
                // A fault of one request must not stop the server: it goes to that request's client.
                if (e is OperationCanceledException) Interlocked.Increment(ref cancelled);
                Abandon(job, e);
            }
            Interlocked.Increment(ref served);
        }
    }

    /// <summary><paramref name="first"/> and the text requests right behind it that fit with it.</summary>
    List<ChatJob> Gather(ChatJob first, int maxContext)
    {
        var jobs = new List<ChatJob> { first };
        var rows = Rows(first).ToList();
        while (rows.Count < settings.MaxBatch && queue.Reader.TryPeek(out var next)
               && next is ChatJob chat && chat.Request.ImageOutput == ImageOutput.None
               && rows.Count + chat.Request.Sampling.N <= settings.MaxBatch
               && BatchDecoder.Fits(rows.Concat(Rows(chat)), maxContext))
        {
            queue.Reader.TryRead(out _);
            Interlocked.Decrement(ref waiting);
            jobs.Add(chat);
            rows.AddRange(Rows(chat));
        }
        return jobs;
    }

    static IEnumerable<DecodeRow> Rows(ChatJob job) => Enumerable.Range(0, job.Request.Sampling.N).Select(c =>
        new DecodeRow(job.Prompt, job.Request.Sampling.Options(c), job.Cancel, t => job.OnToken(c, t)));

    void RunBatch(DeemPipeline p, List<ChatJob> jobs)
    {
        Interlocked.Add(ref served, jobs.Count - 1);           // the loop counts the first
        var live = jobs.Where(j => !j.Cancel.IsCancellationRequested).ToList();
        foreach (var j in jobs.Except(live))
        {
            Interlocked.Increment(ref cancelled);
            j.Fail(new OperationCanceledException(j.Cancel));
        }
        if (live.Count == 0) return;
        try
        {
            BatchDecoder.Run(p.Model, live.SelectMany(Rows).ToList(), p.Text.MaxContext);
            foreach (var j in live)
            {
                if (j.Cancel.IsCancellationRequested) Interlocked.Increment(ref cancelled);
                j.Complete();
            }
        }
        catch (Exception e)
        {
            foreach (var j in live) j.Fail(e);
        }
    }

    /// <summary>The interleaved loop (reference §4.3): text, and at <c>&lt;soi&gt;</c> an image, then text again.</summary>
    void RunInterleaved(DeemPipeline p, ChatJob job)
    {
        using var scope = NewDisposeScope();
        var generator = new InterleavedGenerator(p.Model, p.Codec, settings.MaxContext);
        var s = job.Request.Sampling;
        var options = new InterleavedOptions(s.Options(0),
            new ImageGenerationOptions(settings.ImageSteps, settings.ImageScheduler, Seed: s.Seed), MaxImages: 2, MaxTokens: s.MaxTokens);
        var result = generator.Generate(job.Prompt, options, piece =>
        {
            job.Cancel.ThrowIfCancellationRequested();
            if (piece is TextPiece t) job.OnText(0, t.Text, t.Tokens.Length);
            else if (piece is ImagePiece i) job.OnImage(0, ImageOutputs.Png(i.Image));
        }, _ => job.Cancel.ThrowIfCancellationRequested());
        job.Finish(0, result.Stop == StopReason.MaxTokens ? "length" : "stop");
        job.Complete();
    }

    void RunImages(DeemPipeline p, ImageJob job)
    {
        var images = new byte[job.N][];
        for (int i = 0; i < job.N; i++)
        {
            using var scope = NewDisposeScope();
            job.Cancel.ThrowIfCancellationRequested();
            var image = p.GenerateImage(job.Prompt, job.Options with { Seed = job.Options.Seed + (ulong)i },
                _ => job.Cancel.ThrowIfCancellationRequested());                                          // [3, H, W]
            images[i] = ImageOutputs.Png(image);
        }
        job.Result.TrySetResult(images);
    }

    /// <summary>Stops taking requests; the model is freed when the worker's thread ends.</summary>
    public void Dispose()
    {
        queue.Writer.TryComplete();
        stopping.Cancel();
        if (thread.Join(TimeSpan.FromSeconds(30))) pipeline?.Dispose();
        while (queue.Reader.TryRead(out var job)) Abandon(job, ApiException.NotReady("the server is shutting down"));
        stopping.Dispose();
    }

    static void Abandon(object job, Exception error)
    {
        if (job is ChatJob c) c.Fail(error);
        if (job is ImageJob i) i.Result.TrySetException(error);
    }
}
