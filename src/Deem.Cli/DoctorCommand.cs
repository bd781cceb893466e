using System.CommandLine;
using Deem.Diagnostics;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>`deem doctor`: versions, backend, threads, the libstdc++ patch and a measured GFLOP/s.</summary>
public static class DoctorCommand
{
    public static Command Create()
    {
        var size = new Option<int>("--size") { Description = "matrix side of the fp32 matmul benchmark", DefaultValueFactory = _ => 1024 };
        var seconds = new Option<double>("--seconds") { Description = "how long to run the matmul benchmark", DefaultValueFactory = _ => 2.0 };
        var cmd = new Command("doctor", "Print the .NET/libtorch set-up and measure the fp32 matmul rate") { size, seconds };
        cmd.SetAction(parse =>
        {
            var r = Doctor.Run(parse.GetValue(size), parse.GetValue(seconds));
            var table = new Table().AddColumn("check").AddColumn("value");
            table.AddRow(".NET", Markup.Escape(r.DotNet));
            table.AddRow("OS", Markup.Escape(r.Os));
            table.AddRow("TorchSharp", r.TorchSharp);
            table.AddRow("libtorch", Markup.Escape(Doctor.LibTorchVersion()));
            table.AddRow("backend", r.Backend);
            table.AddRow("threads", r.Threads.ToString());
            table.AddRow("OpenMP wait", Markup.Escape(Deem.Diagnostics.ThreadSettings.InForce ?? "not set by this process"));
            table.AddRow("malloc", Markup.Escape(Deem.Diagnostics.AllocatorSettings.InForce ?? "not set by this process"));
            table.AddRow("NNPACK", Markup.Escape(Deem.Diagnostics.NnpackSettings.InForce ?? "not set by this process"));
            table.AddRow("native library", Markup.Escape(r.NativeLibrary ?? "?"));
            table.AddRow("libstdc++ patch", Markup.Escape(r.LibStdCxxPatch));
            table.AddRow("Scalar lifetime patch", Markup.Escape(r.ScalarLifetimePatch));
            table.AddRow($"fp32 matmul {r.MatmulSize}x{r.MatmulSize}", $"{r.MatmulGflops:F1} GFLOP/s");
            AnsiConsole.Write(table);
            return 0;
        });
        return cmd;
    }
}
