using Deem.World;
using Deem.Inference;
using Deem.Model;
using Deem.Serve;
using Deem.Tests.Inference;

namespace Deem.Tests.Serve;

/// <summary>The serving worker: a bounded queue (429 beyond it), batched decoding, seeded answers independent of batch-mates.</summary>
public class GenerationWorkerTests
{
    static ChatRequest Question(string text, ulong seed, double temperature = 0.9) =>
        new([new ChatTurn("user", [new ChatText(text)])], new ChatSampling(8, temperature, 1.0, 1, seed, []));

    static async Task<string> Answer(ChatJob job)
    {
        var text = new System.Text.StringBuilder();
        await foreach (var e in job.Events(CancellationToken.None))
            if (e is TextDelta t) text.Append(t.Text);
        return text.ToString();
    }

    [Fact]
    public async Task TheQueueIsBoundedAndWaitingRequestsAreBatchedOnceTheModelIsThere()
    {
        var dir = InferenceFixtures.TempDir();
        RandomModelFolder.Write(dir, "tiny", seed: 2, WorldTokenizer.Default);
        using var reference = DeemPipeline.Load(dir);
        using var release = new ManualResetEventSlim();
        var settings = new ServeSettings(dir, MaxQueue: 2, MaxBatch: 4);
        using var worker = new GenerationWorker(settings, () => { release.Wait(); return DeemPipeline.Load(dir); });

        ChatJob Job(ChatRequest r) => new(r, ChatPrompt.Build(reference, r.Turns, 4, reference.Text.MaxContext), reference.Codec, CancellationToken.None);
        var first = Job(Question("What is it?", 1));
        var second = Job(Question("Which shape is red?", 2));
        worker.Submit(first);
        worker.Submit(second);
        Assert.Equal(2, worker.Waiting);
        var refused = Assert.Throws<ApiException>(() => worker.Submit(Job(Question("And now?", 3))));
        Assert.Equal(429, refused.Status);
        Assert.Equal("queue_full", refused.Code);

        release.Set();
        var answers = await Task.WhenAll(Answer(first), Answer(second));
        Assert.Equal(0, worker.Waiting);

        // The same seeded questions alone give the same answers as in the batch.
        Assert.Equal(answers[0], await Answer(worker.Submit(Question("What is it?", 1), CancellationToken.None)));
        Assert.Equal(answers[1], await Answer(worker.Submit(Question("Which shape is red?", 2), CancellationToken.None)));
    }

    [Fact]
    public async Task AStopStringEndsTheAnswerBeforeIt()
    {
        var dir = InferenceFixtures.TempDir();
        RandomModelFolder.Write(dir, "tiny", seed: 4, WorldTokenizer.Default);
        using var worker = new GenerationWorker(new ServeSettings(dir), () => DeemPipeline.Load(dir));
        await worker.Loaded;
        var free = Question("Name the shapes.", 5, temperature: 0) with { Sampling = new ChatSampling(12, 0, 1.0, 1, 5, [], MinTokens: 12) };
        var full = await Answer(worker.Submit(free, CancellationToken.None));
        var words = full.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(words.Length >= 3, full);
        var stop = " " + words[2];
        int cut = full.IndexOf(stop, StringComparison.Ordinal);
        var job = worker.Submit(free with { Sampling = free.Sampling with { Stop = [stop] } }, CancellationToken.None);
        string? reason = null;
        var text = new System.Text.StringBuilder();
        await foreach (var e in job.Events(CancellationToken.None))
        {
            if (e is TextDelta t) text.Append(t.Text);
            if (e is ChoiceFinished f) reason = f.Reason;
        }
        Assert.Equal(full[..cut], text.ToString());
        Assert.Equal("stop", reason);
    }

    [Fact]
    public async Task AFailedLoadAnswersNotReady()
    {
        var dir = InferenceFixtures.TempDir();
        using var worker = new GenerationWorker(new ServeSettings(dir), () => throw new DeemFormatException(dir, "broken weights"));
        await Assert.ThrowsAnyAsync<DeemFormatException>(() => worker.Loaded);
        var e = Assert.Throws<ApiException>(() => worker.Submit(Question("hello", 1), CancellationToken.None));
        Assert.Equal(503, e.Status);
        Assert.Contains("broken weights", e.Message);
    }
}
