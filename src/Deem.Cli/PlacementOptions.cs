using System.CommandLine;
using Deem.Model;

namespace Deem.Cli;

/// <summary>
/// <c>--device</c> and <c>--dtype</c>, the same two options on every verb that runs a model; read into a
/// <see cref="Placement"/> (a device this build cannot reach is a one-line error, exit 2).
/// </summary>
sealed class PlacementOptions
{
    readonly Option<string> _device = new("--device")
    {
        Description = "where the model runs: cpu, cuda or cuda:N (CUDA needs a CUDA build of TorchSharp)",
        DefaultValueFactory = _ => "cpu",
    };
    readonly Option<string> _dtype;

    PlacementOptions(string dtypeDescription) =>
        _dtype = new Option<string>("--dtype") { Description = dtypeDescription, DefaultValueFactory = _ => "fp32" };

    /// <summary>Adds the options of an inference verb (every weight cast to the dtype once, at load) to <paramref name="command"/>.</summary>
    public static PlacementOptions ForInference(Command command) =>
        AddTo(command, new PlacementOptions("weights' dtype: bf16, fp16 or fp32 (cast once after loading; logits and latents stay fp32)"));

    /// <summary>Adds the options of a training verb (frozen towers in the dtype, trainable weights fp32) to <paramref name="command"/>.</summary>
    public static PlacementOptions ForTraining(Command command) =>
        AddTo(command, new PlacementOptions("dtype of the frozen towers: bf16, fp16 or fp32 (trainable weights, AdamW state and losses stay fp32)"));

    static PlacementOptions AddTo(Command command, PlacementOptions options)
    {
        command.Options.Add(options._device);
        command.Options.Add(options._dtype);
        return options;
    }

    /// <summary>The two options (e.g. to refuse them where a run ignores them).</summary>
    public Option[] Options => [_device, _dtype];

    /// <summary>The placement the command line asks for.</summary>
    public Placement Read(ParseResult parse) => Placement.Parse(parse.GetValue(_device), parse.GetValue(_dtype));
}
