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
        var outDir = new Option<string?>("--out") { Description = "result folder (default: results/<scenario name>/)" };
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

        var command = new Command("run", "Run a scenario and write runs.csv, summary.csv, hops.csv, timeseries.csv, traffic.csv, manifest.json and figures/ (PNG and SVG). " + ExitCodes.Help)
        {
            scenario, outDir, seed, set, jobs, force, quiet, noFigures,
        };
        command.SetAction(parse =>
        {
            var sets = new List<string>(parse.GetValue(set) ?? []);
            if (parse.GetValue(seed) is { } text)
            {
                var at = Origin.FromCommandLine($"--seed {text}");
                if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long s))
                    throw new ScenarioException(at, "expected an integer seed");
                if (sets.Any(x => x.Split('=', 2)[0].Trim() == "seed"))
                    throw new ScenarioException(at, "--seed and --set seed=... are both given; give one");
                sets.Add($"seed={s.ToString(CultureInfo.InvariantCulture)}");
            }
            int j = parse.GetValue(jobs);
            if (j < 1) throw new ScenarioException(Origin.FromCommandLine($"--jobs {j}"), "expected at least 1");
            return Execute(parse.GetValue(scenario)!, parse.GetValue(outDir), sets, j, parse.GetValue(force), parse.GetValue(quiet), !parse.GetValue(noFigures));
        });
        return command;
    }

    public static int Execute(string scenarioPath, string? outDir, IReadOnlyList<string> sets, int jobs, bool force, bool quiet, bool figures = true)
    {
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        if (outDir is not null) ResultFolder.Check(outDir, force); // a bad --out is named before the scenario is read
        Scenario scenario = ScenarioLoader.Load(scenarioPath, sets);
        Checks.Load(scenario); // its expect: list is checked as strictly as the rest (and used by 'overlaysim check')
        IReadOnlyList<PlotSpec> plots = PlotSpecs.Load(scenario, CsvResults.MetricColumns);
        string target = outDir ?? Path.Combine("results", scenario.Name);

        IReadOnlyList<PlannedRun> runs = Runner.Plan(scenario);
        int effective = Runner.EffectiveJobs(runs, jobs, Runner.AvailableBytes());
        if (effective < jobs && !quiet)
            Console.Error.WriteLine($"note: running {effective} job(s) at once instead of {jobs}, so that they fit in memory");

        // Checked, locked and proven writable before anything is built: a long run is never wasted on a folder
        // it may not write, and two runs on one folder are told apart at once.
        using var interrupt = new Interrupt(); // before the staging folder exists, so that a signal never strands it
        using ResultFolder folder = ResultFolder.Open(target, force);
        var observer = new ConsoleProgress(runs.Count, showProgress: !quiet && !Console.IsErrorRedirected);
        IReadOnlyList<CompletedRun> results;
        try
        {
            results = Runner.Execute(runs, effective, observer, interrupt.Token);
        }
        catch (OperationCanceledException) when (interrupt.Signal is not null)
        {
            return interrupt.Report();
        }
        observer.Clear();

        var context = new RunContext(Program.CommandLine(Environment.GetCommandLineArgs()[1..]), started, clock.Elapsed, Program.PeakMemory(), effective);
        var writers = new (string File, Action<string> Write)[]
        {
            ("runs.csv", f => CsvResults.WriteRuns(f, scenario, results)),
            ("summary.csv", f => CsvResults.WriteSummary(f, scenario, results)),
            ("hops.csv", f => CsvResults.WriteHops(f, scenario, results)),
            ("timeseries.csv", f => CsvResults.WriteTimeSeries(f, scenario, results)),
            ("traffic.csv", f => CsvResults.WriteTraffic(f, scenario, results)),
        };
        foreach (var (file, write) in writers)
        {
            if (interrupt.Signal is not null) return interrupt.Report(); // the staging folder goes with the folder's Dispose
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
                    if (interrupt.Signal is not null) return interrupt.Report();
                    Renderer.Save(f, folder.FilePath($"{ResultFolder.FiguresFolder}/{f.Name}.{format}"), format, options);
                }
        }
        if (interrupt.Signal is not null) return interrupt.Report();
        Manifest.Write(folder.FilePath("manifest.json"), scenario, results, context, folder.Files, plots);
        // The last point of no return: from here on a signal waits for the two renames, so the target is
        // either the old folder or the new one.
        if (interrupt.Signal is not null) return interrupt.Report();
        interrupt.Hold();
        folder.Commit();

        if (!quiet) Summary.Print(Console.Out, results, folder.TargetPath, clock.Elapsed, Program.PeakMemory());
        return ExitCodes.Ok;
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
        if (Signal is not null && !_held) return; // a second signal: let it end the process
        context.Cancel = true;
        Signal ??= context.Signal;
        _cancel.Cancel();
    }

    /// <summary>Says that nothing was written and returns 130 (SIGINT) or 143 (SIGTERM).</summary>
    public int Report()
    {
        Console.Error.WriteLine($"interrupted ({(Signal == PosixSignal.SIGTERM ? "SIGTERM" : "SIGINT")}): nothing was written");
        return Signal == PosixSignal.SIGTERM ? ExitCodes.Terminated : ExitCodes.Interrupted;
    }

    public void Dispose()
    {
        foreach (PosixSignalRegistration r in _registrations) r.Dispose();
        _cancel.Dispose();
    }
}

/// <summary>Progress on stderr, redrawn in place, only when stderr is a terminal.</summary>
internal sealed class ConsoleProgress(int total, bool showProgress) : IRunObserver
{
    private readonly object _lock = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _done;
    private long _lastEvents;
    private double _lastSeconds;
    private bool _drawn;

    public void Started(PlannedRun run) { }

    public void Progress(PlannedRun run, RunProgress p)
    {
        if (!showProgress) return;
        lock (_lock)
        {
            double now = _clock.Elapsed.TotalSeconds;
            double rate = (p.Events - _lastEvents) / Math.Max(1e-6, now - _lastSeconds);
            if (p.Events < _lastEvents) rate = p.Events / Math.Max(1e-6, now);
            _lastEvents = p.Events;
            _lastSeconds = now;
            string eta = p.Fraction > 0.01 ? $"{(now / Math.Max(p.Fraction, 1e-9)) * (1 - p.Fraction):0}s left in this run" : "";
            string line = $"run {_done + 1}/{total} ({run.Overlay.Label}, {run.Point.Nodes} nodes): {p.Fraction * 100:0.0}% " +
                          $"sim {Units.FormatDuration(p.SimTime / 1_000_000 * 1_000_000)} {rate / 1e6:0.0}M events/s {eta}";
            Console.Error.Write("\r" + line.PadRight(100));
            _drawn = true;
        }
    }

    public void Finished(CompletedRun run)
    {
        lock (_lock) _done++;
    }

    public void Clear()
    {
        if (_drawn) Console.Error.Write("\r" + new string(' ', 100) + "\r");
    }
}

/// <summary>The short table printed after a run.</summary>
internal static class Summary
{
    public static void Print(TextWriter o, IReadOnlyList<CompletedRun> runs, string folder, TimeSpan wall, long peak)
    {
        o.WriteLine($"{"overlay",-12} {"nodes",10} {"rep",3} {"lookups",10} {"ok",7} {"hops",6} {"p99",4} {"paper",6} {"lat ms",8} {"degree",7} {"events",12} {"s",7}");
        foreach (CompletedRun run in runs)
        {
            RunResult r = run.Result;
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{run.Plan.Overlay.Label,-12} {run.Plan.Point.Nodes,10} {run.Plan.Replicate,3} {r.Lookups,10} {r.SuccessRate * 100,6:0.0}% {r.HopsMean,6:0.00} {r.HopsP99,4} " +
                $"{(r.Metric("paper_hops_mean") is double paper ? paper.ToString("0.00", CultureInfo.InvariantCulture) : "-"),6} {r.LatencyMeanMs,8:0.0} {r.DegreeMean,7:0.0} {r.Events,12} {run.Wall.TotalSeconds,7:0.0}"));
        }
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {folder}/ (runs.csv, summary.csv, hops.csv, timeseries.csv, traffic.csv, manifest.json{(Directory.Exists(Path.Combine(folder, "figures")) ? ", figures/" : "")}) in {wall.TotalSeconds:0.0} s, peak memory {peak / (1024.0 * 1024):0} MiB"));
    }
}
