using System.CommandLine;
using System.Diagnostics;
using OverlaySim.Output;
using OverlaySim.Scenarios;

namespace OverlaySim.Cli;

/// <summary>Exit codes of every command (also listed in --help and the README).</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>An unexpected internal error: a bug in OverlaySim (please report it with the scenario).</summary>
    public const int InternalError = 1;
    /// <summary>Bad usage or a bad scenario: nothing was run or written.</summary>
    public const int BadInput = 2;
    /// <summary>The run could not be carried out here (e.g. it would not fit in memory); nothing was written.</summary>
    public const int CannotRun = 3;
    /// <summary><c>check</c>: the runs were carried out and at least one expectation failed.</summary>
    public const int ExpectationFailed = 4;
    /// <summary>Interrupted by SIGINT (Ctrl+C); nothing was written (a sweep's finished runs are kept for --resume).</summary>
    public const int Interrupted = 130;
    /// <summary>Stopped by SIGTERM (e.g. a batch system's time limit); nothing was written.</summary>
    public const int Terminated = 143;

    public const string Help =
        "Exit codes: 0 success; 2 bad usage or bad scenario (nothing run or written); " +
        "3 the run could not be carried out here, e.g. it would not fit in memory (nothing written); " +
        "4 (check) an expectation failed; 1 internal error; 130 interrupted by Ctrl+C (SIGINT), 143 stopped by SIGTERM " +
        "(nothing written; the finished runs of a sweep are kept for 'run --resume').";
}

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand(
            "OverlaySim: a deterministic discrete-event simulator of peer-to-peer overlays.\n" + ExitCodes.Help);
        root.Add(RunCommand.Create());
        root.Add(ValidateCommand());
        root.Add(ListCommand.Create());
        root.Add(CheckCommand.Create());
        root.Add(PlotCommand.Create());
        root.Add(MergeCommand.Create());
        root.Add(SlurmCommand.Create());
        root.Add(ExamplesCommand.Create());
        root.Add(SchemaCommand.Create());

        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) Console.Error.WriteLine($"overlaysim: {e.Message}");
            Console.Error.WriteLine("Try 'overlaysim --help'.");
            return ExitCodes.BadInput;
        }
        try
        {
            // System.CommandLine's default handler would print a stack trace and return 1 for every exception,
            // a bad scenario included; Report maps them to the documented exit codes instead.
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return Report(e);
        }
    }

    /// <summary>Turns any failure into a message on stderr and an exit code: never a stack trace unless asked for.</summary>
    public static int Report(Exception e)
    {
        switch (e)
        {
            case ScenarioException se:
                foreach (Diagnostic d in se.Diagnostics.Take(Diagnostic.MaxReported)) Console.Error.WriteLine($"error: {d}");
                if (se.Diagnostics.Count > Diagnostic.MaxReported)
                    Console.Error.WriteLine($"error: ... and {se.Diagnostics.Count - Diagnostic.MaxReported} more problems (fix these first)");
                return ExitCodes.BadInput;
            case RunFailedException rf:
                Console.Error.WriteLine($"error: {rf.Message}");
                return ExitCodes.CannotRun;
            case OverlaySim.Core.RunawayException ra:
                Console.Error.WriteLine($"error: the run was stopped: {ra.Message}");
                return ExitCodes.CannotRun;
            case OutOfMemoryException or InsufficientMemoryException:
                Console.Error.WriteLine($"error: out of memory ({e.Message}); reduce nodes, keys or lookups, or run fewer --jobs");
                return ExitCodes.CannotRun;
            case OperationCanceledException:
                Console.Error.WriteLine("interrupted: nothing was written");
                return ExitCodes.Interrupted;
            case IOException or UnauthorizedAccessException:
                Console.Error.WriteLine($"error: {e.Message}");
                return ExitCodes.CannotRun;
            default:
                Console.Error.WriteLine($"internal error: {e.GetType().Name}: {e.Message}");
                if (Environment.GetEnvironmentVariable("OVERLAYSIM_DEBUG") == "1") Console.Error.WriteLine(e);
                else Console.Error.WriteLine("This is a bug in OverlaySim. Set OVERLAYSIM_DEBUG=1 for the stack trace.");
                return ExitCodes.InternalError;
        }
    }

    private static Command ValidateCommand()
    {
        var scenario = new Argument<string>("scenario") { Description = "the scenario YAML file" };
        var set = RunCommand.SetOption();
        var command = new Command("validate", "Check a scenario file (and its --set overrides) without running it. " + ExitCodes.Help)
        {
            scenario,
            set,
        };
        command.SetAction(parse =>
        {
            Scenario s = ScenarioLoader.Load(parse.GetValue(scenario)!, parse.GetValue(set) ?? []);
            ExpectationSet expectations = Checks.Load(s);
            PlotSpecs.Load(s, CsvResults.MetricColumns);
            IReadOnlyList<PlannedRun> runs = Runner.Plan(s);
            long largest = runs.Max(Runner.EstimateBytes);
            Runner.EffectiveJobs(runs, 1, Runner.AvailableBytes()); // exit 3 here too when a run cannot fit
            Console.WriteLine($"{s.File}: ok: scenario '{s.Name}', {s.Points.Count} sweep point(s), {runs.Count} run(s), " +
                              $"largest run needs about {Runner.Gib(largest)} (available: {Runner.Gib(Runner.AvailableBytes())})" +
                              (expectations.Items.Count > 0 ? $", {expectations.Items.Count} expectation(s)" : ""));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static string CommandLine(string[] args) =>
        "overlaysim " + string.Join(' ', args.Select(a => a.Contains(' ') ? $"\"{a}\"" : a));

    public static long PeakMemory()
    {
        using var p = Process.GetCurrentProcess();
        return p.PeakWorkingSet64;
    }
}
