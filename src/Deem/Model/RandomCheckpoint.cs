using Deem.Config;
using Deem.IO;
using Deem.Text;
using Deem.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>What <see cref="RandomCheckpoint"/> wrote.</summary>
/// <param name="Tensors">Tensors written.</param>
/// <param name="Bytes">Bytes of tensor data.</param>
/// <param name="Files">Weight files (1, or the shards).</param>
public sealed record RandomCheckpointReport(int Tensors, long Bytes, int Files);

/// <summary>
/// Random weights for any preset, paper scale included, written without ever holding the model: the key set and
/// shapes come from a model built on the meta device, and each tensor is drawn (N(0, 0.02²), seeded), converted
/// to the storage dtype, written and released in turn (<see cref="ShardPlanWriter"/>). The keys are the authors'
/// (<c>visual_tokenizer.*</c>, <c>mm_decoder.*</c>, …), so the weights alone are a checkpoint <c>deem import</c>
/// reads; with a config and a tokenizer they are a model folder.
/// </summary>
public static class RandomCheckpoint
{
    /// <summary>Standard deviation of every drawn weight.</summary>
    public const double Std = 0.02;

    /// <summary>Writes the weights of a <paramref name="config"/> DEEM into <paramref name="folder"/> (sharded past <paramref name="maxShardBytes"/>).</summary>
    /// <param name="folder">Created when missing.</param>
    /// <param name="config">The model whose state dict is written.</param>
    /// <param name="dtype">Storage dtype of the floating tensors.</param>
    /// <param name="seed">Seed of every draw.</param>
    /// <param name="maxShardBytes">Largest shard.</param>
    public static RandomCheckpointReport WriteWeights(string folder, DeemConfig config, ScalarType dtype, ulong seed, long maxShardBytes = 5L << 30)
    {
        var plan = ParameterCount.OnMeta(() =>
        {
            using var meta = new DeemModel(config);
            return meta.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal)
                .Select(kv => (kv.Key, new TensorSpec(kv.Value.is_floating_point() ? dtype : kv.Value.dtype, kv.Value.shape))).ToList();
        });
        var specs = plan.ToDictionary(p => p.Key, p => p.Item2, StringComparer.Ordinal);
        using var generator = new Generator(seed);
        Tensor Draw(string key)
        {
            using var scope = NewDisposeScope();
            var spec = specs[key];
            var t = randn(spec.Shape, ScalarType.Float32, generator: generator).mul_(Std).to(spec.Dtype);   // [shape]
            return t.MoveToOuterDisposeScope();
        }
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["weights"] = $"random N(0, {Std}^2), seed {seed}" };
        int files = ShardPlanWriter.Write(folder, plan, Draw, maxShardBytes, metadata);
        return new RandomCheckpointReport(plan.Count, plan.Sum(p => p.Item2.NumElements * SafetensorsDtype.SizeOf(p.Item2.Dtype)), files);
    }

    /// <summary>A whole model folder (<see cref="DeemCheckpoint"/>): config, tokenizer, then the random weights.</summary>
    /// <param name="folder">Created when missing.</param>
    /// <param name="config">The model.</param>
    /// <param name="tokenizer">Saved with it.</param>
    /// <param name="dtype">Storage dtype of the floating tensors.</param>
    /// <param name="seed">Seed of every draw.</param>
    public static RandomCheckpointReport WriteFolder(string folder, DeemConfig config, ITextTokenizer tokenizer, ScalarType dtype, ulong seed)
    {
        Directory.CreateDirectory(folder);
        config.Save(Path.Combine(folder, DeemCheckpoint.ConfigFile));
        TokenizerFiles.Save(folder, tokenizer);
        return WriteWeights(folder, config, dtype, seed);                          // weights last: a folder with weights is complete
    }
}
