using System.Diagnostics;

namespace Deem.Tests.Cli;

/// <summary>
/// The built CLI (<c>dotnet deem.dll</c>) on inputs it must refuse: one line on stderr naming the option,
/// nothing on stdout, exit code 2 — options a run would parse and then ignore included. No model, world or
/// run folder is read: each refusal comes before any file is opened.
/// </summary>
public class CommandLineErrorTests
{
    static (int Code, string Out, string Err) Deem(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "deem.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3))) { process.Kill(entireProcessTree: true); throw new TimeoutException($"deem {string.Join(' ', args)}"); }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    static readonly string Missing = Path.Combine(Path.GetTempPath(), "deem-no-such-folder-" + Guid.NewGuid().ToString("N")[..8]);

    public static TheoryData<string[], string> Refused => new()
    {
        { ["frobnicate"], "unknown verb 'frobnicate'" },
        { ["doctor", "--size", "-5"], "--size" },
        { ["train", "--stage", "0", "--world", Missing, "--out", Missing, "--steps", "-1"], "--steps" },
        { ["train", "--stage", "0", "--world", Missing, "--out", Missing, "--eval-world", Missing], "--eval-world" },
        { ["train", "--stage", "1", "--world", Missing, "--out", Missing, "--resume", "--seed", "4"], "--seed" },
        { ["eval", "run", "--model", Missing, "--out", Missing], "no benchmark given" },
        { ["eval", "run", "--model", Missing, "--out", Missing, "--world", Missing, "--mmvp", Missing], "--world cannot be used without --bench" },
        { ["eval", "run", "--model", Missing, "--out", Missing, "--bench", Missing, "--pope", Missing], "--pope cannot be combined with --bench" },
        { ["eval", "run", "--model", Missing, "--out", Missing, "--pope", Missing], "--pope-images" },
        { ["ask", "--model", Missing, "--seed", "3", "what is it?"], "'vqa' preset does not sample" },
        { ["eval", "probe", "--model", Missing, "--world", Missing, "--train-images", "0"], "--train-images" },
        { ["eval", "probe", "--model", Missing, "--world", Missing, "--hidden", "0,x"], "--hidden" },
        { ["eval", "probe", "--model", Missing, "--world", Missing, "--bench", Missing], "--bench must be a folder" },
        { ["eval", "grad-balance", "--model", Missing, "--world", Missing, "--stage", "3"], "--stage" },
        { ["eval", "grad-balance", "--model", Missing, "--world", Missing, "--batches", "0"], "--batches" },
        { ["eval", "grad-balance", "--model", Missing, "--world", Missing], "--model needs a DEEM model folder" },
        { ["train", "--stage", "0", "--world", Missing, "--out", Missing, "--batch-size", "1"], "--batch-size" },
        { ["train", "--stage", "0", "--world", Missing, "--out", Missing, "--resolution", "80"], "multiple of 32, found 80" },
        { ["train", "--stage", "0", "--world", Missing, "--out", Missing, "--component-steps", "1,2,3"], "four positive integers" },
        { ["train", "--stage", "0", "--world", Missing, "--out", Missing, "--vae-cache-mib", "16"], "--vae-cache-mib cannot be used here" },
        { ["train", "--stage", "2", "--world", Missing, "--out", Missing, "--vae-cache-mib", "-1"], "--vae-cache-mib" },
        { ["train", "--stage", "2", "--world", Missing, "--out", Missing, "--keep-checkpoints", "-1"], "--keep-checkpoints" },
        { ["train", "--stage", "0", "--world", Missing, "--out", Missing, "--keep-checkpoints", "5"], "--keep-checkpoints cannot be used here" },
        { ["train", "--stage", "1", "--world", Missing, "--out", Missing, "--resolution", "96"], "--resolution cannot be used here" },
        { ["train", "--stage", "2", "--world", Missing, "--out", Missing, "--init", Missing, "--arch", "gpt"], "must be deem or llava, found 'gpt'" },
        { ["train", "--stage", "1", "--world", Missing, "--out", Missing, "--arch", "llava"], "a fresh model takes its architecture from the preset" },
        { ["train", "--stage", "0", "--world", Missing, "--out", Missing, "--arch", "llava"], "--arch cannot be used here" },
        { ["train", "--stage", "2", "--world", Missing, "--out", Missing, "--resume", "--arch", "llava"], "--arch cannot be used here" },
        { ["train", "--stage", "0", "--world", Missing, "--out", Missing, "--resume", Missing + "-other"], "stage 0 resumes in its --out folder" },
        { ["bench", "generate", "--images", "-1"], "--images" },
        { ["experiment", "csr", "--world", Missing, "--stage0", Missing, "--out", Missing, "--threads", "0"], "--threads" },
        { ["demo", "--out", Missing, "--threads", "0"], "--threads" },
        { ["demo", "--out", Missing, "--jobs", "0"], "--jobs" },
        { ["experiment", "csr", "--world", Missing, "--stage0", Missing, "--out", Missing, "--jobs", "-1"], "--jobs" },
        { ["experiment", "csr", "--world", Missing, "--stage0", Missing, "--out", Missing, "--save-every", "0"], "--save-every: field 'save-every': must be > 0, found 0" },
        { ["train", "--stage", "2", "--world", Missing, "--out", Missing, "--threads", "-2"], "--threads" },
        { ["eval", "probe", "--model", Missing, "--world", Missing, "--threads", "0"], "--threads" },
        { ["eval", "run", "--model", Missing, "--out", Missing, "--threads", "0"], "--threads" },
        { ["model", "--preset", "tiny-llava", "--step-flops"], "--step-flops needs a DEEM preset" },
        { ["world", "make", "--out", Missing, "--yes-no", "both"], "--yes-no" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void IsOneLineOnStderrWithExitCodeTwo(string[] args, string named)
    {
        var (code, stdout, stderr) = Deem(args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("error: ", stderr);
        Assert.Contains(named, stderr);
    }

    [Fact]
    public void HelpOfAVerbIsThatVerbsHelp()
    {
        var (code, stdout, stderr) = Deem("import", "--help");
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Contains("deem import [options]", stdout);
    }

    [Fact]
    public void ASeedIsTakenByASamplingPreset()
    {
        // The seed check passes; the missing model folder is what is refused.
        var (code, _, stderr) = Deem("ask", "--model", Missing, "--preset", "interleaved", "--seed", "3", "what is it?");
        Assert.Equal(2, code);
        Assert.Contains(Missing, stderr);
        Assert.DoesNotContain("--seed", stderr);
    }
}
