using System.Diagnostics;
using System.Text;

namespace Deem.Tests.Serve;

/// <summary>
/// A real `deem serve` process (the built CLI run with `dotnet deem.dll`) on a free loopback port: it is
/// started with port 0 and the address it prints is read back, so no port is ever guessed. Killed
/// (with its children) on dispose. Output is kept for failure messages.
/// </summary>
sealed class ServerProcess : IDisposable
{
    readonly Process process;
    readonly StringBuilder log = new();
    readonly TaskCompletionSource<string> address = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ServerProcess(string modelDir, params string[] extra)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "deem.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException("the built CLI is missing next to the tests", dll);
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { dll, "serve", "--model", modelDir, "--port", "0" }.Concat(extra)) start.ArgumentList.Add(a);
        process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Line(e.Data);
        process.ErrorDataReceived += (_, e) => Line(e.Data);
        process.Exited += (_, _) => address.TrySetException(new InvalidOperationException($"deem serve exited early:\n{Log}"));
        process.EnableRaisingEvents = true;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    void Line(string? line)
    {
        if (line is null) return;
        lock (log) log.AppendLine(line);
        const string prefix = "listening on ";
        if (line.StartsWith(prefix, StringComparison.Ordinal)) address.TrySetResult(line[prefix.Length..].Trim().Split(' ')[0]);
    }

    public string Log { get { lock (log) return log.ToString(); } }

    /// <summary>The base URL (http://127.0.0.1:PORT), once the server listens.</summary>
    public async Task<string> Url()
    {
        var done = await Task.WhenAny(address.Task, Task.Delay(TimeSpan.FromMinutes(3)));
        if (done != address.Task) throw new TimeoutException($"deem serve did not listen within 3 minutes:\n{Log}");
        return await address.Task;
    }

    /// <summary>Waits until /ready answers 200.</summary>
    public async Task<string> Ready()
    {
        var url = await Url();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var until = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (DateTime.UtcNow < until)
        {
            if (process.HasExited) throw new InvalidOperationException($"deem serve exited:\n{Log}");
            try
            {
                if ((await http.GetAsync(url + "/ready")).IsSuccessStatusCode) return url;
            }
            catch (HttpRequestException) { }
            await Task.Delay(200);
        }
        throw new TimeoutException($"deem serve was not ready within 3 minutes:\n{Log}");
    }

    public void Dispose()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(30_000);
            }
        }
        catch (InvalidOperationException) { }
        process.Dispose();
    }
}
