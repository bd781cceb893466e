using System.CommandLine;
using System.Globalization;
using Deem.Benchmarks;
using Deem.World.Experiments;
using Deem.Training;
using Spectre.Console;

namespace Deem.Cli;

/// <summary>
/// `deem experiment csr`: the paper's CSR ablation on the built-in world (Tables 1, 3, 5): baseline
/// (DEEM*) vs DEEM, and the LLaVA-style variant without and with CSR, over several seeds, from the
/// same stage-0 components; writes report.md, report.png and report.json in --out.
/// </summary>
public static class ExperimentCommand
{
    public static Command Create()
    {
        var world = new Option<string>("--world") { Description = "world folder (deem world make)", Required = true };
        var stage0 = new Option<string>("--stage0") { Description = "stage-0 folder (deem train --stage 0)", Required = true };
        var outDir = new Option<string>("--out") { Description = "experiment folder (runs, benchmarks, report)", Required = true };
        var seeds = new Option<string>("--seeds") { Description = "comma-separated seeds", DefaultValueFactory = _ => "0,1,2" };
        var llavaSeeds = new Option<string?>("--llava-seeds") { Description = "seeds of the LLaVA-style arms (default: --seeds)" };
        var arch = new Option<string>("--arch") { Description = "deem, llava or deem,llava", DefaultValueFactory = _ => "deem,llava" };
        var s1 = new Option<int>("--stage1-steps") { DefaultValueFactory = _ => 150 };
        var s2 = new Option<int>("--stage2-steps") { DefaultValueFactory = _ => 150 };
        var defaults = new CsrExperimentOptions { World = "", Stage0 = "", OutDir = "" };
        var pope = new Option<int>("--pope-images") { Description = "held-out images per POPE split (POPE's own: 500)", DefaultValueFactory = _ => defaults.PopeImages };
        var mmvp = new Option<int>("--mmvp-pairs") { Description = "MMVP pairs, mined as CLIP-blind (MMVP's own: 150)", DefaultValueFactory = _ => defaults.MmvpPairs };
        var csrWeight = new Option<double?>("--csr-weight") { Description = "λ_CSR of the CSR arms in both stages (default: the recipes' 5); use one --out per value" };
        var only = new Option<string?>("--arms") { Description = "train only these arms, e.g. baseline (default: every arm of --arch)" };
        var saveEvery = new Option<int>("--save-every")
        {
            Description = "steps between each stage's checkpoints; the same command after a stop resumes every unfinished run from its last one",
            DefaultValueFactory = _ => defaults.SaveEvery,
        };
        var threads = RunThreadsOption();
        var jobs = JobsOption();
        // Set by --jobs for the processes it starts, so that each run.json says how many runs shared the cores.
        var concurrent = new Option<int>(ConcurrentRunsName) { Hidden = true, DefaultValueFactory = _ => 1 };
        var csr = new Command("csr", "Baseline vs DEEM (and LLaVA-style ± CSR) over seeds; report with 95 % CIs")
            { world, stage0, outDir, seeds, llavaSeeds, arch, s1, s2, pope, mmvp, csrWeight, only, saveEvery, threads, jobs, concurrent };
        csr.SetAction(parse =>
        {
            var options = new CsrExperimentOptions
            {
                World = parse.GetValue(world)!, Stage0 = parse.GetValue(stage0)!, OutDir = parse.GetValue(outDir)!,
                Seeds = ParseSeeds(parse.GetValue(seeds)!, "--seeds"),
                LlavaSeeds = parse.GetValue(llavaSeeds) is { } l ? ParseSeeds(l, "--llava-seeds") : null,
                Arches = parse.GetValue(arch)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                Stage1Steps = parse.GetValue(s1), Stage2Steps = parse.GetValue(s2), CsrWeight = parse.GetValue(csrWeight),
                PopeImages = parse.GetValue(pope), MmvpPairs = parse.GetValue(mmvp),
                OnlyArms = parse.GetValue(only)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                ConcurrentRuns = Math.Max(1, parse.GetValue(concurrent)),
                SaveEvery = parse.GetValue(saveEvery) is > 0 and var every ? every
                    : throw new DeemConfigException("--save-every", "save-every", $"must be > 0, found {parse.GetValue(saveEvery)}"),
            };
            ThreadsOption.Apply(parse, threads, whenUnset: ThreadsOption.TinyTraining);
            RunWithJobs(options, ReadJobs(parse, jobs));
            return 0;
        });
        return new Command("experiment", "Experiments that test the paper's claims") { csr, Report() };
    }

    /// <summary>
    /// `deem experiment report --arm NAME=EVAL[@TRAIN],… --arm … --out DIR`: the ablation report (means, 95 % CIs,
    /// Welch differences) of runs trained and scored one by one (<see cref="RunFolders"/>).
    /// </summary>
    static Command Report()
    {
        var arms = new Option<string[]>("--arm")
        {
            Required = true, Description = "NAME=EVAL[@TRAIN][,EVAL[@TRAIN]…]: an arm's runs, each the --out of `deem eval run --bench` " +
                "and optionally @ the --out of its `deem train --stage 2` (seed, image gap); repeat per arm",
        };
        var compare = new Option<string[]>("--compare") { Description = "WITH:WITHOUT arm names whose difference is reported; repeat for more pairs, e.g. DEEM:baseline and LLaVA+CSR:LLaVA, each within one architecture (default: the first two arms if they share one)" };
        var setup = new Option<string?>("--setup") { Description = "a line on how the runs were made, printed under the title" };
        var outDir = new Option<string>("--out") { Required = true, Description = "folder for report.md, report.png, report.json" };
        var cmd = new Command("report", "The ablation report of runs trained and scored one by one (mean ± 95 % CI per arm, Welch differences)")
            { arms, compare, setup, outDir };
        cmd.SetAction(parse =>
        {
            var read = parse.GetValue(arms)!.Select(RunFolders.ParseArm).ToList();
            var names = read.Select(a => a.Name).ToList();
            if (names.Distinct(StringComparer.Ordinal).Count() != names.Count)
                throw new DeemConfigException("--arm", "arm", $"arm names repeat: {string.Join(", ", names)}");
            var comparisons = RunFolders.ParseComparisons(parse.GetValue(compare) ?? [], read);
            string text = parse.GetValue(setup) ?? "Runs trained and scored one by one, read back by `deem experiment report`.";
            string dir = parse.GetValue(outDir)!;
            CsrExperimentReport.Write(dir, read, comparisons, text);
            Console.WriteLine(File.ReadAllText(Path.Combine(dir, "report.md")));
            return 0;
        });
        return cmd;
    }

    /// <summary>The hidden option by which a <c>--jobs</c> parent tells its children how many runs train at once.</summary>
    public const string ConcurrentRunsName = "--concurrent-runs";

    public static IReadOnlyList<int> ParseSeeds(string text, string option)
    {
        var list = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            list.Add(int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var s)
                ? s : throw new DeemConfigException(option, "seeds", $"'{part}' is not an integer"));
        if (list.Count == 0) throw new DeemConfigException(option, "seeds", "give at least one seed");
        return list;
    }

    /// <summary><c>--jobs</c>: arm × seed runs trained at once, each in its own process (<see cref="ParallelRuns"/>).</summary>
    public static Option<int> JobsOption(int defaultJobs = 1) => new("--jobs")
    {
        Description = "arm × seed runs trained at once, each in its own process with cores / jobs torch threads (1: one after another, in this process)",
        DefaultValueFactory = _ => defaultJobs,
    };

    /// <summary><c>--threads</c> of a command that trains tiny runs, in this process or (with <c>--jobs</c>) in children.</summary>
    public static Option<int?> RunThreadsOption() =>
        ThreadsOption.Create($"{ThreadsOption.TinyTraining}; with --jobs, cores / jobs in each run's process");

    /// <summary>The value of a <see cref="JobsOption"/>, refused below 1 naming the option (before any work).</summary>
    public static int ReadJobs(ParseResult parse, Option<int> option) =>
        parse.GetValue(option) is var jobs and >= 1 ? jobs : throw new DeemConfigException("--jobs", "jobs", $"must be ≥ 1, found {parse.GetValue(option)}");

    /// <summary>
    /// With <paramref name="jobs"/> (from <see cref="ReadJobs"/>) &gt; 1 the runs first train in parallel processes;
    /// then <see cref="Run"/> reuses them and reports.
    /// </summary>
    public static IReadOnlyList<ExperimentArm> RunWithJobs(CsrExperimentOptions options, int jobs)
    {
        if (jobs > 1) ParallelRuns.Run(options, jobs, m => AnsiConsole.MarkupLine(Markup.Escape(m)));
        return Run(options);
    }

    /// <summary>Runs the experiment with a progress bar per training stage and prints the report.</summary>
    public static IReadOnlyList<ExperimentArm> Run(CsrExperimentOptions options)
    {
        IReadOnlyList<ExperimentArm> arms;
        if (Console.IsOutputRedirected)
            arms = CsrExperiment.Run(options, label => new LabelledPlainObserver(label), Console.WriteLine);
        else
            arms = TorchProgress.Create()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                    new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx => CsrExperiment.Run(options, label => new TaskObserver(ctx, label),
                    m => AnsiConsole.MarkupLine(Markup.Escape(m))));
        AnsiConsole.WriteLine();
        Console.WriteLine(File.ReadAllText(Path.Combine(options.OutDir, "report.md")));
        AnsiConsole.MarkupLine($"report: [bold]{Markup.Escape(Path.Combine(options.OutDir, "report.md"))}[/] and report.png");
        return arms;
    }

    /// <summary>Plain progress lines prefixed with the run's label.</summary>
    sealed class LabelledPlainObserver(string label) : ITrainingObserver
    {
        readonly PlainTrainingObserver inner = new(new PrefixWriter(label));
        public void Begin(TrainingPlan plan) => inner.Begin(plan);
        public void Step(StepMetrics m) => inner.Step(m);
        public void Info(string message) { }
        public void End() => inner.End();

        sealed class PrefixWriter(string prefix) : StringWriter
        {
            public override void WriteLine(string? value) => Console.WriteLine($"[{prefix}] {value}");
        }
    }

    /// <summary>One Spectre progress task per training stage.</summary>
    sealed class TaskObserver(ProgressContext ctx, string label) : ITrainingObserver
    {
        ProgressTask? task;
        public void Begin(TrainingPlan plan)
        {
            task = ctx.AddTask(Markup.Escape(label), maxValue: Math.Max(1, plan.StopStep));
            task.Value = plan.StartStep;
            ctx.Refresh();
        }
        public void Step(StepMetrics m)
        {
            task!.Value = m.Step;
            task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"{label} loss {m.Loss:F3} (ntp {m.Ntp:F3} nip {m.Nip:F3} csr {m.Csr:F3})"));
            ctx.Refresh();
        }
        public void Info(string message) { }
        public void End() => task?.StopTask();
    }
}
