namespace Deem.Serve;

/// <summary>How `deem serve` runs.</summary>
/// <param name="ModelDir">The model folder (<c>DeemCheckpoint</c>).</param>
/// <param name="Host">Address Kestrel listens on (loopback by default).</param>
/// <param name="Port">TCP port (0 = any free port; the chosen one is printed).</param>
/// <param name="AllowLocalFiles">Whether <c>image_url</c> may name a file on the server's disk.</param>
/// <param name="MaxQueue">Most requests waiting for the model; one more is answered 429.</param>
/// <param name="MaxBodyBytes">Largest request body; a larger one is answered 413.</param>
/// <param name="MaxBatch">Most rows (prompts × n) decoded together in one left-padded batch.</param>
/// <param name="MaxImages">Most input images per chat request.</param>
/// <param name="MaxContext">Longest prompt + answer (default: the model's max_position_embeddings).</param>
/// <param name="ImageSteps">Denoising steps of generated images.</param>
/// <param name="ImageScheduler">ddim (deterministic, fast) or ddpm (the paper's).</param>
/// <param name="ModelName">The id clients send as <c>model</c> (default: the folder's name).</param>
/// <param name="Placement">Device and weights' dtype of the model (null: CPU fp32), applied once after loading.</param>
public sealed record ServeSettings(
    string ModelDir,
    string Host = "127.0.0.1",
    int Port = 8000,
    bool AllowLocalFiles = false,
    int MaxQueue = 256,
    long MaxBodyBytes = 16 << 20,
    int MaxBatch = 8,
    int MaxImages = 4,
    int? MaxContext = null,
    int ImageSteps = 50,
    string ImageScheduler = "ddim",
    string? ModelName = null,
    Deem.Model.Placement? Placement = null)
{
    /// <summary>The model id of <c>/v1/models</c>.</summary>
    public string Id => ModelName ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(ModelDir)));

    /// <summary>Throws <see cref="ArgumentException"/> naming the first impossible setting.</summary>
    public ServeSettings Validate()
    {
        void Require(bool ok, string option, object value, string rule)
        {
            if (!ok) throw new ArgumentException($"{option} = {value}: {rule}");
        }
        Require(Port is >= 0 and <= 65535, "--port", Port, "must be in [0, 65535]");
        Require(MaxQueue >= 0, "--max-queue", MaxQueue, "must be ≥ 0");
        Require(MaxBodyBytes >= 1024, "--max-body-bytes", MaxBodyBytes, "must be ≥ 1024");
        Require(MaxBatch >= 1, "--max-batch", MaxBatch, "must be ≥ 1");
        Require(MaxImages >= 0, "--max-images", MaxImages, "must be ≥ 0");
        Require(ImageSteps >= 1, "--image-steps", ImageSteps, "must be ≥ 1");
        Require(ImageScheduler is "ddim" or "ddpm", "--image-scheduler", ImageScheduler, "must be ddim or ddpm");
        return this;
    }
}
