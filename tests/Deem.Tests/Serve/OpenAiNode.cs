using System.Diagnostics;

namespace Deem.Tests.Serve;

/// <summary>
/// The official `openai` npm client, installed with npm into the git-ignored node_modules of
/// tests/Deem.Tests/Serve/openai (reused when present), and the node scripts of that folder run with it.
/// npm or node missing, or the registry unreachable, fails the set-up loudly.
/// </summary>
static class OpenAiNode
{
    static readonly Lazy<string> folder = new(Install);

    public static string Folder => folder.Value;

    static string Install()
    {
        var scripts = Path.Combine(RepositoryRoot.Path, "tests", "Deem.Tests", "Serve", "openai");
        if (File.Exists(Path.Combine(scripts, "node_modules", "openai", "package.json"))) return scripts;
        var (code, output) = Run("npm", scripts, TimeSpan.FromMinutes(5), "install", "--no-audit", "--no-fund");
        if (code != 0 || !File.Exists(Path.Combine(scripts, "node_modules", "openai", "package.json")))
            throw new InvalidOperationException($"`npm install` of the openai client failed in {scripts} (exit {code}); the server tests need npm and its registry:\n{output}");
        return scripts;
    }

    /// <summary>Runs <c>node SCRIPT ARGS…</c> in the scripts folder; returns its stdout (fails on a non-zero exit).</summary>
    public static string Node(string script, params string[] args)
    {
        var (code, output) = Run("node", Folder, TimeSpan.FromMinutes(4), [script, .. args]);
        if (code != 0) throw new InvalidOperationException($"node {script} {string.Join(' ', args)} exited {code}:\n{output}");
        return output;
    }

    static (int Code, string Output) Run(string file, string workDir, TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = workDir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException($"cannot run {file}: {e.Message}; the server tests need Node.js and npm", e); }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{file} {string.Join(' ', args)} ran longer than {timeout}:\n{stderr.Result}");
            }
            process.WaitForExit();
            return (process.ExitCode, process.ExitCode == 0 ? stdout.Result : stdout.Result + stderr.Result);
        }
    }
}
