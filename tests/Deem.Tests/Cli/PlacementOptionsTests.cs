using System.CommandLine;
using Deem.Cli;
using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Tests.Cli;

/// <summary>
/// <c>--device</c> and <c>--dtype</c> on every verb that runs a model: the same two options everywhere,
/// and a device this build cannot reach (CUDA in the CPU build) refused with one line before any work.
/// </summary>
public class PlacementOptionsTests
{
    static readonly string Missing = Path.Combine(Path.GetTempPath(), "no-such-deem-folder-" + Guid.NewGuid().ToString("N")[..6]);

    /// <summary>Each verb that runs a model, with the arguments it requires.</summary>
    static IEnumerable<(Command Command, string[] Args)> Verbs() =>
    [
        (AskCommand.Create(), ["ask", "--model", Missing, "what?"]),
        (ChatCommand.Create(new StringReader("/quit\n")), ["chat", "--model", Missing]),
        (GenerateCommand.Create(), ["generate", "--model", Missing, "--out", Path.Combine(Missing, "x.png"), "a red square"]),
        (InterleaveCommand.Create(), ["interleave", "--model", Missing, "--out", Missing, "hello"]),
        (EvalCommand.Create(), ["eval", "run", "--model", Missing, "--out", Missing]),
        (ServeCommand.Create(), ["serve", "--model", Missing]),
        (BenchCommand.Create(), ["bench", "generate"]),
        (BenchTrainCommand.TrainStep(), ["train-step"]),
        (BenchServeCommand.Create(), ["serve", "--model", Missing]),
        (ModelCommand.Create(), ["model", "--check"]),
        (TrainCommand.Create(), ["train", "--stage", "1", "--world", Missing, "--out", Missing]),
    ];

    /// <summary>What the verb says about its arguments: the error line of an exit-2 run, or the <see cref="DeemException"/>
    /// a verb without its own error policy throws (the program prints it as one line and exits 2).</summary>
    static string Refusal(Command command, string[] args)
    {
        var root = new RootCommand { command };
        var error = new StringWriter();
        try
        {
            int code = root.Parse(args).Invoke(new InvocationConfiguration
            {
                Output = new StringWriter(), Error = error, EnableDefaultExceptionHandler = false,
            });
            Assert.Equal(2, code);
            return error.ToString().Trim();
        }
        catch (DeemException e) { return e.Message; }
    }

    [Fact]
    public void EveryModelVerbTakesDeviceAndDType()
    {
        foreach (var (command, args) in Verbs())
        {
            var root = new RootCommand { command };
            var parse = root.Parse([.. args, "--device", "cpu", "--dtype", "bf16"]);
            Assert.True(parse.Errors.Count == 0, $"{string.Join(' ', args.Take(2))}: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
        }
    }

    [Fact]
    public void CudaInTheCpuBuildIsOneLineNamingTheOption()
    {
        Assert.False(cuda.is_available());
        foreach (var (command, args) in Verbs())
        {
            string message = Refusal(command, [.. args, "--device", "cuda"]);
            Assert.Contains("--device cuda: this build of TorchSharp has no CUDA device", message);
            Assert.Single(message.Split('\n'));
        }
    }

    [Fact]
    public void AnUnknownDTypeIsRefused()
    {
        var (command, args) = Verbs().First();
        Assert.Contains("--dtype: 'int8' is not bf16, fp16 or fp32", Refusal(command, [.. args, "--dtype", "int8"]));
    }

    [Fact]
    public void PlacementParsesDevicesAndDTypes()
    {
        Assert.Equal(Placement.Default, Placement.Parse(null, null));
        Assert.Equal(new Placement(CPU, ScalarType.BFloat16), Placement.Parse("CPU", "bf16"));
        Assert.Equal(ScalarType.Float16, Placement.Parse("cpu", "fp16").DType);
        Assert.True(Placement.Parse("cpu", "bf16").IsLowPrecision);
        Assert.Throws<DeemException>(() => Placement.Parse("tpu", "fp32"));
        Assert.Throws<DeemException>(() => Placement.Parse("cuda:x", "fp32"));
    }
}
