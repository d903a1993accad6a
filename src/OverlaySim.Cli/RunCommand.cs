using Spectre.Console;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using OverlaySim.Core;
using OverlaySim.Figures;
using OverlaySim.Output;
using OverlaySim.Scenarios;

namespace OverlaySim.Cli;

/// <summary><c>overlaysim run</c>: load, check, run every planned run, write the results atomically, print a summary.</summary>
public static class RunCommand
{
    public static Option<string[]> SetOption() => new("--set")
    {
        Description = "override a scalar parameter by its path, e.g. --set nodes=4096 --set overlays.chord.successors=4 (repeatable)",
        AllowMultipleArgumentsPerToken = false,
    };

    public static Command Create()
    {
        var scenario = new Argument<string>("scenario") { Description = "the scenario YAML file" };
        var outDir = new Option<string?>("--out") { Description = "result folder (default: results/<scenario name>/, or results/<scenario name>.shard-I-of-N/ with --shard)" };
        var seed = new Option<string?>("--seed") { Description = "master seed, overriding the scenario's 'seed' (an integer; short for --set seed=N)" };
        var set = SetOption();
        var jobs = new Option<int>("--jobs", "-j")
        {
            Description = "runs carried out at once (results do not depend on it; reduced if they would not fit in memory)",
            DefaultValueFactory = _ => 1,
        };
        var force = new Option<bool>("--force") { Description = "replace an existing non-empty result folder" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "no progress and no summary table" };
        var noFigures = new Option<bool>("--no-figures") { Description = "write no figures/ folder (figures can be drawn later with 'overlaysim plot')" };
        var shard = new Option<string?>("--shard")
        {
            Description = "carry out only shard I of N (I/N, from 1) and write a shard folder of run records for 'overlaysim merge'; " +
                          "runs are dealt to shards by estimated cost, the same way on every machine",
        };
        var resume = new Option<bool>("--resume")
        {
            Description = "keep the finished runs of an interrupted run on the same folder and carry out only the rest " +
                          "(the result is byte-identical to an uninterrupted run); does nothing when the folder already holds these runs",
        };

        var command = new Command("run", "Run a scenario and write runs.csv, summary.csv, hops.csv, timeseries.csv, traffic.csv, manifest.json and figures/ (PNG and SVG). " + ExitCodes.Help)
        {
            scenario, outDir, seed, set, jobs, force, quiet, noFigures, shard, resume,
        };
        command.SetAction(parse =>
        {
            IReadOnlyList<string> sets = Overrides(parse.GetValue(set), parse.GetValue(seed));
            int j = parse.GetValue(jobs);
            if (j < 1) throw new ScenarioException(Origin.FromCommandLine($"--jobs {j}"), "expected at least 1");
            ShardSpec? part = parse.GetValue(shard) is { } text ? ShardSpec.Parse(text) : null;
            return Execute(parse.GetValue(scenario)!, parse.GetValue(outDir), sets, j, parse.GetValue(force), parse.GetValue(quiet), !parse.GetValue(noFigures),
                part, parse.GetValue(resume));
        });
        return command;
    }

    /// <summary>The --set overrides with --seed folded in as seed=N (refused when both name the seed).</summary>
    public static IReadOnlyList<string> Overrides(string[]? set, string? seed)
    {
        var sets = new List<string>(set ?? []);
        if (seed is { } text)
        {
            var at = Origin.FromCommandLine($"--seed {text}");
            if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long s))
                throw new ScenarioException(at, "expected an integer seed");
            if (sets.Any(x => x.Split('=', 2)[0].Trim() == "seed"))
                throw new ScenarioException(at, "--seed and --set seed=... are both given; give one");
            sets.Add($"seed={s.ToString(CultureInfo.InvariantCulture)}");
        }
        return sets;
    }

    /// <summary>The folder a shard writes when no --out is given.</summary>
    public static string ShardFolderName(string scenario, ShardSpec shard) =>
        $"{scenario}.shard-{shard.Index.ToString(CultureInfo.InvariantCulture)}-of-{shard.Count.ToString(CultureInfo.InvariantCulture)}";

    public static int Execute(string scenarioPath, string? outDir, IReadOnlyList<string> sets, int jobs, bool force, bool quiet, bool figures = true,
        ShardSpec? shard = null, bool resume = false)
    {
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        if (outDir is not null && !resume) ResultFolder.Check(outDir, force); // a bad --out is named before the scenario is read
        Scenario scenario = ScenarioLoader.Load(scenarioPath, sets);
        Checks.Load(scenario); // its expect: list is checked as strictly as the rest (and used by 'overlaysim check')
        IReadOnlyList<PlotSpec> plots = PlotSpecs.Load(scenario, CsvResults.MetricColumns);
        string target = outDir ?? Path.Combine("results", shard is { } sh ? ShardFolderName(scenario.Name, sh) : scenario.Name);

        IReadOnlyList<PlannedRun> plan = Runner.Plan(scenario);
        IReadOnlyList<PlannedRun> mine = shard is { } s ? Shards.Of(plan, s) : plan;
        Sweep.Info sweep = Sweep.InfoOf(scenario, plan.Count, shard);
        if (resume && Sweep.Holds(target, sweep))
        {
            if (!quiet) Console.Error.WriteLine($"nothing to do: '{target}' already holds these {(shard is null ? "runs" : $"runs of shard {shard}")}");
            return ExitCodes.Ok;
        }
        if (outDir is not null) ResultFolder.Check(outDir, force);
        int effective = mine.Count == 0 ? 1 : Runner.EffectiveJobs(mine, jobs, Runner.AvailableBytes());
        if (effective < jobs && !quiet)
            Console.Error.WriteLine($"note: running {effective} job(s) at once instead of {jobs}, so that they fit in memory");

        // Checked, locked and proven writable before anything is built: a long run is never wasted on a folder
        // it may not write, and two runs on one folder are told apart at once.
        using var interrupt = new Interrupt(); // before the staging folder exists, so that a signal never strands it
        using ResultFolder folder = ResultFolder.Open(target, force, resume ? sweep : null);
        if (folder.Discarded > 0) // said even with --quiet: finished work was thrown away
            Console.Error.WriteLine($"note: discarded {folder.Discarded} finished run(s) of an interrupted run on '{target}' (--resume would have kept them)");
        if (!File.Exists(Path.Combine(folder.StagingPath, Sweep.FileName))) Sweep.Write(Path.Combine(folder.StagingPath, Sweep.FileName), sweep); // a resumed folder keeps its own

        // Runs an earlier attempt finished (with --resume), then the rest, each committed as a record when it ends.
        string fingerprint = sweep.Fingerprint;
        var done = new Dictionary<int, RunRecord>();
        foreach (PlannedRun run in mine)
        {
            try
            {
                if (RunRecord.Load(folder.RecordsPath, run.Index, scenario, plan, fingerprint) is { } record) done[run.Index] = record;
            }
            catch (ScenarioException e)
            {
                throw new ScenarioException([.. e.Diagnostics, new Diagnostic(Origin.FromCommandLine("--resume"),
                    $"the interrupted run's records are kept in '{folder.StagingPath}'; delete that record to have its run carried out again, or run without --resume to start over")]);
            }
        }
        if (resume && !quiet && folder.Resumed > 0)
            Console.Error.WriteLine($"resuming: {done.Count} of {mine.Count} run(s) already finished");
        List<PlannedRun> todo = mine.Where(r => !done.ContainsKey(r.Index)).ToList();
        var observer = new ConsoleProgress(todo.Count, showProgress: !quiet && !Console.IsErrorRedirected);
        try
        {
            RunRecord[] fresh = observer.Show(() => Runner.Execute(todo, effective, run =>
            {
                RunRecord record = RunRecord.Of(scenario, run);
                record.Save(folder.RecordsPath, fingerprint);
                return record;
            }, observer, interrupt.Token));
            foreach (RunRecord r in fresh) done[r.Plan.Index] = r;
        }
        catch (OperationCanceledException) when (interrupt.Signal is not null)
        {
            observer.Clear();
            return interrupt.Report(folder, mine.Count);
        }
        catch
        {
            observer.Clear();
            if (folder.KeepUnfinished())
                Console.Error.WriteLine($"note: the {folder.Records().Count} finished run(s) are kept; rerun with --resume to carry out only the rest");
            throw;
        }
        observer.Clear();
        IReadOnlyList<RunRecord> records = mine.Select(r => done[r.Index]).ToList();

        var context = new RunContext(Program.CommandLine(Environment.GetCommandLineArgs()[1..]), started, clock.Elapsed, Program.PeakMemory(), effective);
        if (shard is { } part)
        {
            // A shard folder keeps its records and sweep file for 'overlaysim merge', and names them in its manifest.
            folder.FilePath(Sweep.FileName);
            foreach (RunRecord r in records) folder.FilePath($"{RunRecord.Folder}/{RunRecord.FileName(r.Plan.Index)}");
            if (interrupt.Signal is not null) return interrupt.Report(folder, mine.Count);
            Manifest.Write(folder.FilePath("manifest.json"), scenario, records, context, folder.Files, plots, json =>
            {
                json.WriteString("shard", part.ToString());
                json.WriteNumber("sweep_runs", plan.Count);
            });
        }
        else if (ResultWriter.Write(folder, scenario, records, context, figures, plots, interrupt) is { } stopped)
            return stopped;

        // The last point of no return: from here on a signal waits for the two renames, so the target is
        // either the old folder or the new one. A plain result drops its records only now.
        if (interrupt.Signal is not null) return interrupt.Report(folder, mine.Count);
        interrupt.Hold();
        folder.Commit(keepRecords: shard is not null);

        if (!quiet) Summary.Print(Console.Out, scenario, records, folder.TargetPath, clock.Elapsed, Program.PeakMemory(), shard);
        return ExitCodes.Ok;
    }
}

/// <summary>Writes a result folder's files from the runs' records: what 'run' and 'merge' both do.</summary>
internal static class ResultWriter
{
    /// <summary>
    /// Writes runs.csv, summary.csv, hops.csv, timeseries.csv, traffic.csv, the figures and manifest.json into the staging
    /// folder (the records stay until the commit, see <see cref="ResultFolder.Commit"/>). Returns null, or the exit code
    /// of a signal that stopped it.
    /// </summary>
    public static int? Write(ResultFolder folder, Scenario scenario, IReadOnlyList<RunRecord> records, RunContext context, bool figures,
        IReadOnlyList<PlotSpec> plots, Interrupt interrupt, Action<System.Text.Json.Utf8JsonWriter>? extra = null)
    {
        int total = records.Count;
        var writers = new List<(string File, Action<string> Write)>();
        foreach (CsvResults.PerRunFile file in CsvResults.PerRunFiles.Where(f => f.AppliesTo(scenario)))
        {
            writers.Add((file.Name, f => CsvResults.Write(f, scenario, file, records)));
            if (file == CsvResults.Runs) writers.Add(("summary.csv", f => CsvResults.WriteSummary(f, scenario, records)));
        }
        foreach (var (file, write) in writers)
        {
            if (interrupt.Signal is not null) return interrupt.Report(folder, total);
            write(folder.FilePath(file));
        }
        if (figures)
        {
            // Drawn from the files just written, as 'overlaysim plot' draws them, and listed in the manifest.
            var overlayOf = scenario.Points[0].Overlays.ToDictionary(o => o.Label, o => o.Info.Name);
            var options = new FigureOptions(FigureOptions.KnownFormats);
            var points = scenario.Points.Select(p => new FigureSet.PointParameters(p.Swept.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal), p.Resolved)).ToList();
            foreach (Figure f in FigureSet.Build(folder.StagingPath, scenario.SweptPaths, overlayOf, points, plots))
                foreach (string format in options.Formats)
                {
                    if (interrupt.Signal is not null) return interrupt.Report(folder, total);
                    Renderer.Save(f, folder.FilePath($"{ResultFolder.FiguresFolder}/{f.Name}.{format}"), format, options);
                }
        }
        if (interrupt.Signal is not null) return interrupt.Report(folder, total);
        Manifest.Write(folder.FilePath("manifest.json"), scenario, records, context, folder.Files, plots, extra);
        return null;
    }
}

/// <summary>
/// SIGINT (Ctrl+C) and SIGTERM stop a run: the first one cancels it, and the run ends with exit code 130 or 143
/// having written nothing. A second signal before the run has stopped (say, during a long build) ends the
/// process at once, as without a handler; the lock and any staging folder it leaves are cleaned up by the next
/// run on that folder. After <see cref="Hold"/> (the commit's two renames) a signal is noted but waited out.
/// </summary>
internal sealed class Interrupt : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly PosixSignalRegistration[] _registrations;
    private volatile bool _held;

    public Interrupt()
    {
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
        ];
    }

    public CancellationToken Token => _cancel.Token;

    /// <summary>The first signal received, or null.</summary>
    public PosixSignal? Signal { get; private set; }

    public void Hold() => _held = true;

    private void OnSignal(PosixSignalContext context)
    {
        if (Signal is not null && !_held)
        {
            // A second signal: let it end the process, with the terminal's cursor shown again (the progress display
            // hides it while it draws, and shows it again only if it gets to finish).
            if (!Console.IsErrorRedirected) Console.Error.Write("\u001b[?25h");
            return;
        }
        context.Cancel = true;
        Signal ??= context.Signal;
        _cancel.Cancel();
    }

    /// <summary>Says that nothing was written and returns 130 (SIGINT) or 143 (SIGTERM).</summary>
    public int Report()
    {
        Console.Error.WriteLine($"interrupted ({Name}): nothing was written");
        return Code;
    }

    /// <summary>
    /// Says that nothing was written to the target, keeps the finished runs' records in the staging folder for
    /// <c>--resume</c> (when there are any), and returns 130 (SIGINT) or 143 (SIGTERM).
    /// </summary>
    public int Report(ResultFolder folder, int runs)
    {
        if (!folder.KeepUnfinished()) return Report();
        Console.Error.WriteLine($"interrupted ({Name}): nothing was written to '{folder.TargetPath}'; {folder.Records().Count} of {runs} run(s) had finished " +
                                $"and are kept in '{folder.StagingPath}': rerun with --resume to carry out only the rest (--force without --resume discards them)");
        return Code;
    }

    private string Name => Signal == PosixSignal.SIGTERM ? "SIGTERM" : "SIGINT";

    private int Code => Signal == PosixSignal.SIGTERM ? ExitCodes.Terminated : ExitCodes.Interrupted;

    public void Dispose()
    {
        foreach (PosixSignalRegistration r in _registrations) r.Dispose();
        _cancel.Dispose();
    }
}

/// <summary>
/// Progress on stderr while runs are carried out, only when stderr is a terminal (and not with --quiet): one line per
/// run in flight (its overlay, size and replicate, whether it is building, simulating or summarising, its simulated
/// time and events per second), with its share done and the time it has left, under a line for the whole sweep.
/// Drawn by Spectre.Console, which fits the lines to the terminal's width and clears them at the end.
/// </summary>
internal sealed class ConsoleProgress(int total, bool showProgress) : IRunObserver
{
    private const double Scale = 1000;   // a task's value: its run's share done, in thousandths
    private readonly object _lock = new();
    private readonly RunRates _rates = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Dictionary<int, ProgressTask> _tasks = [];
    private ProgressContext? _context;
    private ProgressTask? _sweep;
    private int _done;

    /// <summary>Carries out <paramref name="work"/> under the display (or plainly when there is none).</summary>
    public T Show<T>(Func<T> work)
    {
        if (!showProgress || total == 0) return work();
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Progress()
            .AutoClear(true)
            .HideCompleted(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                lock (_lock)
                {
                    _context = context;
                    _sweep = context.AddTask(SweepLine(), maxValue: total);
                }
                return work();
            });
    }

    public void Started(PlannedRun run) => Update(run, "building", null);

    public void Built(PlannedRun run)
    {
        lock (_lock) _rates.Start(run.Index, _clock.Elapsed.TotalSeconds);
        Update(run, "simulating", null);
    }

    public void Progress(PlannedRun run, RunProgress p) => Update(run, null, p);

    public void Simulated(PlannedRun run) => Update(run, "summarising", null);

    public void Finished(CompletedRun run)
    {
        lock (_lock)
        {
            _done++;
            if (_tasks.Remove(run.Plan.Index, out ProgressTask? task))
            {
                task.Value = Scale;
                task.StopTask();
            }
            if (_sweep is not null)
            {
                _sweep.Value = _done;
                _sweep.Description = SweepLine();
            }
        }
    }

    private string SweepLine() => Markup.Escape($"runs: {_done} of {total} done");

    private void Update(PlannedRun run, string? phase, RunProgress? p)
    {
        if (!showProgress) return;
        lock (_lock)
        {
            if (_context is null) return;
            string what = $"{run.Overlay.Label}, {run.Point.Nodes:N0} nodes, replicate {run.Replicate}";
            if (!_tasks.TryGetValue(run.Index, out ProgressTask? task))
                _tasks[run.Index] = task = _context.AddTask(Markup.Escape(what), maxValue: Scale);
            if (p is { } progress)
            {
                double rate = _rates.Rate(run.Index, progress.Events, _clock.Elapsed.TotalSeconds);
                task.Value = Math.Clamp(progress.Fraction, 0, 1) * Scale;
                task.Description = Markup.Escape(
                    $"{what}: simulated {Units.FormatDuration(progress.SimTime / 1_000_000 * 1_000_000)}, {RunRates.Format(rate)} events/s");
            }
            else task.Description = Markup.Escape($"{what}: {phase}");
        }
    }

    /// <summary>Kept for the callers' error paths: the display clears itself when its work ends.</summary>
    public void Clear() { }
}

/// <summary>Events per second of each run, from its own last two reports (a run's rate never mixes with another's).</summary>
internal sealed class RunRates
{
    private readonly Dictionary<int, (long Events, double Seconds, double Rate)> _last = [];

    /// <summary>Run <paramref name="run"/> starts dispatching events at <paramref name="seconds"/> of wall time.</summary>
    public void Start(int run, double seconds) => _last[run] = (0, seconds, 0);

    /// <summary>Run <paramref name="run"/> had dispatched <paramref name="events"/> events at <paramref name="seconds"/> of wall time.</summary>
    public double Rate(int run, long events, double seconds)
    {
        if (!_last.TryGetValue(run, out var last))
        {
            _last[run] = (events, seconds, 0);
            return 0;
        }
        // No time elapsed since the last report: keep what it said, and count these events in the next interval.
        if (seconds <= last.Seconds || events < last.Events) return last.Rate;
        double now = (events - last.Events) / (seconds - last.Seconds);
        double rate = last.Rate > 0 ? 0.7 * last.Rate + 0.3 * now : now;   // smoothed, so the line does not flicker
        _last[run] = (events, seconds, rate);
        return rate;
    }

    /// <summary>1.23M, 456k, 789.</summary>
    public static string Format(double rate) => rate switch
    {
        >= 1e6 => string.Create(CultureInfo.InvariantCulture, $"{rate / 1e6:0.00}M"),
        >= 1e3 => string.Create(CultureInfo.InvariantCulture, $"{rate / 1e3:0}k"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{rate:0}"),
    };
}

/// <summary>The short table printed after a run.</summary>
internal static class Summary
{
    public static void Print(TextWriter o, Scenario scenario, IReadOnlyList<RunRecord> runs, string folder, TimeSpan wall, long peak, ShardSpec? shard = null)
    {
        o.WriteLine($"{"overlay",-12} {"nodes",10} {"rep",3} {"lookups",10} {"ok",7} {"hops",6} {"p99",4} {"paper",6} {"lat ms",8} {"degree",7} {"events",12} {"s",7}");
        foreach (RunRecord run in runs)
        {
            IReadOnlyDictionary<string, string> r = run.RunsRow(scenario);
            double Number(string column) => double.TryParse(r.GetValueOrDefault(column), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : double.NaN;
            string paper = r.GetValueOrDefault("paper_hops_mean") is { Length: > 0 } ? Number("paper_hops_mean").ToString("0.00", CultureInfo.InvariantCulture) : "-";
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{run.Plan.Overlay.Label,-12} {run.Plan.Point.Nodes,10} {run.Plan.Replicate,3} {r["lookups"],10} {Number("success_rate") * 100,6:0.0}% {Number("hops_mean"),6:0.00} {r["hops_p99"],4} " +
                $"{paper,6} {Number("latency_mean_ms"),8:0.0} {Number("degree_mean"),7:0.0} {run.Events,12} {run.WallSeconds,7:0.0}"));
        }
        string files = shard is null
            ? $"runs.csv, summary.csv, hops.csv, timeseries.csv, traffic.csv, {(File.Exists(Path.Combine(folder, CsvResults.Zones.Name)) ? "zones.csv, " : "")}manifest.json{(Directory.Exists(Path.Combine(folder, "figures")) ? ", figures/" : "")}"
            : $"shard {shard} of the sweep: {runs.Count} run record(s) for 'overlaysim merge'";
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {folder}/ ({files}) in {wall.TotalSeconds:0.0} s, peak memory {peak / (1024.0 * 1024):0} MiB"));
    }
}
