using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Deem.World.Experiments;

namespace Deem.Cli;

/// <summary>
/// <c>--jobs N</c> of <c>deem experiment csr</c> and <c>deem demo</c>: the experiment's unfinished arm × seed
/// runs, N at a time (at most as many as there are runs), each in its own <c>deem experiment csr</c>
/// process restricted to that arm and seed, with max(1, cores / N) torch threads. The runs are
/// independent (each seeds its own process and writes only its own folder), so a run trained this way is
/// the run the sequential loop trains; the caller then runs the experiment as usual, which reuses every
/// finished <c>run.json</c> and writes the report. Why: the tiny model trains faster on one thread than
/// on two (docs/experiments.md §6), so the other cores are worth more as other runs; why processes: the
/// trainer seeds torch's process-wide generator, so two runs cannot share a process.
/// </summary>
public static class ParallelRuns
{
    /// <summary>Torch threads of each child when <paramref name="jobs"/> run at once on <paramref name="cores"/> cores.</summary>
    public static int ThreadsPerJob(int jobs, int cores) => Math.Max(1, cores / Math.Max(1, jobs));

    /// <summary>The command line (after the executable) of the child that trains one run of <paramref name="o"/>.</summary>
    public static IReadOnlyList<string> ChildArguments(CsrExperimentOptions o, PlannedRun run, int threads, int jobs)
    {
        var defaults = new CsrExperimentOptions { World = "", Stage0 = "", OutDir = "" };
        if (o.MaxNewTokens != defaults.MaxNewTokens || o.EvalBatchSize != defaults.EvalBatchSize)
            throw new DeemConfigException("--jobs", "jobs", "the answer length and evaluation batch have no command-line options, so a child process could not use these values");
        static string I(double v) => v.ToString(CultureInfo.InvariantCulture);
        var args = new List<string>
        {
            "experiment", "csr", "--world", o.World, "--stage0", o.Stage0, "--out", o.OutDir,
            "--arch", run.Arch, "--arms", run.Arm, "--seeds", I(run.Seed),
            "--stage1-steps", I(o.Stage1Steps), "--stage2-steps", I(o.Stage2Steps),
            "--pope-images", I(o.PopeImages), "--mmvp-pairs", I(o.MmvpPairs), "--save-every", I(o.SaveEvery), "--threads", I(threads),
            ExperimentCommand.ConcurrentRunsName, I(jobs),
        };
        if (o.CsrWeight is double w) args.AddRange(["--csr-weight", I(w)]);
        return args;
    }

    /// <summary>
    /// Trains every unfinished run of <paramref name="o"/>, <paramref name="jobs"/> processes at a time, each
    /// writing its console to <c>console.log</c> in its run folder. The benchmarks are built first, here, so
    /// that no two children build them. Throws naming the run and its log when a child fails.
    /// </summary>
    public static void Run(CsrExperimentOptions o, int jobs, Action<string> log)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(jobs, 1);                                     // the CLI refused it already (ReadJobs)
        CsrExperiment.BuildBenchmarks(o, log);
        var todo = CsrExperiment.Plan(o).Where(r => !CsrExperiment.Finished(o.OutDir, r)).ToList();
        jobs = Math.Max(1, Math.Min(jobs, todo.Count));
        int threads = ThreadsPerJob(jobs, Environment.ProcessorCount);
        log($"{todo.Count} runs to train, {jobs} at a time, {threads} torch thread(s) each");
        var failures = new List<string>();
        // One run at a time to whichever process slot frees first, the longer CSR runs first: no slot idles
        // while another still holds a queue of its own.
        var queue = Partitioner.Create(LongestFirst(todo), EnumerablePartitionerOptions.NoBuffering);
        Parallel.ForEach(queue, new ParallelOptions { MaxDegreeOfParallelism = jobs }, run =>
        {
            string label = $"{run.Arm} seed {run.Seed}";
            string dir = CsrExperiment.RunDir(o.OutDir, run.Arm, run.Seed);
            Directory.CreateDirectory(dir);
            string logFile = Path.Combine(dir, "console.log");
            log($"{label}: started (log {logFile})");
            var clock = Stopwatch.StartNew();
            int code = RunChild(ChildArguments(o, run, threads, jobs), logFile);
            if (code == 0) log(string.Create(CultureInfo.InvariantCulture, $"{label}: done in {clock.Elapsed.TotalMinutes:F1} min"));
            else lock (failures) failures.Add($"{label} (exit {code}, see {logFile})");
        });
        if (failures.Count > 0) throw new DeemException("runs failed: " + string.Join("; ", failures));
    }

    /// <summary>The runs with CSR (about twice as long) before those without, each group in plan order.</summary>
    public static IReadOnlyList<PlannedRun> LongestFirst(IEnumerable<PlannedRun> runs) => runs.OrderByDescending(r => r.Csr).ToList();

    /// <summary>Runs this same <c>deem</c> (apphost, or <c>dotnet deem.dll</c>) with <paramref name="args"/>, stdout and stderr into <paramref name="logFile"/>.</summary>
    static int RunChild(IReadOnlyList<string> args, string logFile)
    {
        string host = Environment.ProcessPath ?? throw new DeemException("cannot find this process's executable to start the runs");
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
            start.ArgumentList.Add(Assembly.GetEntryAssembly()?.Location ?? throw new DeemException("cannot find deem.dll to start the runs"));
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new DeemException($"could not start {host}");
        using var writer = new StreamWriter(logFile) { AutoFlush = true };
        var gate = new object();
        void Write(string? line) { if (line is not null) lock (gate) writer.WriteLine(line); }
        process.OutputDataReceived += (_, e) => Write(e.Data);
        process.ErrorDataReceived += (_, e) => Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.WaitForExit();
        return process.ExitCode;
    }
}
