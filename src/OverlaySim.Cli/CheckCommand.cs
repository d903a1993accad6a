using System.CommandLine;
using System.Diagnostics;
using OverlaySim.Output;
using OverlaySim.Scenarios;

namespace OverlaySim.Cli;

/// <summary>
/// <c>overlaysim check</c>: runs scenarios (or reads a result folder) and checks their <c>expect:</c> lists; prints a
/// table of verdicts, optionally writes a JUnit report, and exits with <see cref="ExitCodes.ExpectationFailed"/> when
/// any expectation fails. Writes no result folder.
/// </summary>
public static class CheckCommand
{
    public static Command Create()
    {
        var scenarios = new Argument<string[]>("scenarios") { Description = "scenario YAML files with an expect: list", Arity = ArgumentArity.OneOrMore };
        var results = new Option<string?>("--results") { Description = "check an existing result folder of the (single) scenario instead of running it" };
        var junit = new Option<string?>("--junit") { Description = "also write a JUnit XML report to this file (replaced if it exists)" };
        var update = new Option<bool>("--update-golden") { Description = "rewrite the trace_hash values that differ with the measured ones, in place (only those values change)" };
        var set = RunCommand.SetOption();
        var jobs = new Option<int>("--jobs", "-j") { Description = "runs carried out at once", DefaultValueFactory = _ => 1 };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "print only failures and the summary line" };
        var command = new Command("check", "Run scenarios and check their expect: lists (routing properties, golden trace hashes). " +
                                           "Exit code 4 when an expectation fails. " + ExitCodes.Help)
        {
            scenarios, results, junit, update, set, jobs, quiet,
        };
        command.SetAction(parse =>
        {
            int j = parse.GetValue(jobs);
            if (j < 1) throw new ScenarioException(Origin.FromCommandLine($"--jobs {j}"), "expected at least 1");
            return Execute(parse.GetValue(scenarios)!, parse.GetValue(results), parse.GetValue(junit), parse.GetValue(update),
                parse.GetValue(set) ?? [], j, parse.GetValue(quiet));
        });
        return command;
    }

    public static int Execute(string[] files, string? resultsDir, string? junit, bool updateGolden, IReadOnlyList<string> sets, int jobs, bool quiet)
    {
        if (resultsDir is not null && files.Length != 1)
            throw new ScenarioException(Origin.FromCommandLine($"--results {resultsDir}"), "--results checks the result folder of one scenario: give exactly one scenario file");
        if (resultsDir is not null && updateGolden)
            throw new ScenarioException(Origin.FromCommandLine("--update-golden"), "--update-golden needs the runs themselves: it cannot be combined with --results");
        if (updateGolden && sets.Count > 0)
            throw new ScenarioException(Origin.FromCommandLine($"--set {sets[0]}"), "--update-golden writes the hashes of the runs into the file, so they must be the file's own runs: drop the --set overrides");
        if (junit is not null && Directory.Exists(junit))
            throw new ScenarioException(Origin.FromCommandLine($"--junit {junit}"), "is a folder: expected a file name for the JUnit report");
        if (junit is not null && !Directory.Exists(Path.GetDirectoryName(Path.GetFullPath(junit))))
            throw new ScenarioException(Origin.FromCommandLine($"--junit {junit}"), "its folder does not exist (the report is written into an existing folder)");

        // Everything is loaded and checked before anything runs: a bad expectation in the last file stops the first run.
        var loaded = new List<(Scenario Scenario, ExpectationSet Set)>();
        foreach (string file in files)
        {
            Scenario scenario = ScenarioLoader.Load(file, sets);
            ExpectationSet set = Checks.Load(scenario);
            if (set.Items.Count == 0)
                throw new ScenarioException(new Origin(file, 1, 1), "the scenario has no expect: list, so there is nothing to check (see 'overlaysim check --help' and the README)");
            loaded.Add((scenario, set));
        }

        using var interrupt = new Interrupt();
        var suites = new List<(Scenario, IReadOnlyList<CheckOutcome>, TimeSpan)>();
        int failed = 0, total = 0, updated = 0;
        foreach (var (scenario, set) in loaded)
        {
            var clock = Stopwatch.StartNew();
            IReadOnlyList<(PlannedRun, IReadOnlyDictionary<string, string>)> rows;
            if (resultsDir is not null) rows = Checks.Rows(scenario, resultsDir);
            else
            {
                IReadOnlyList<PlannedRun> runs = Runner.Plan(scenario);
                int effective = Runner.EffectiveJobs(runs, jobs, Runner.AvailableBytes());
                var observer = new ConsoleProgress(runs.Count, showProgress: !quiet && !Console.IsErrorRedirected);
                try
                {
                    rows = Checks.Rows(scenario, observer.Show(() => Runner.Execute(runs, effective, observer, interrupt.Token)));
                }
                catch (OperationCanceledException) when (interrupt.Signal is not null)
                {
                    return interrupt.Report();
                }
                observer.Clear();
            }
            IReadOnlyList<CheckOutcome> outcomes = Checks.Evaluate(scenario, set, rows);
            if (updateGolden && outcomes.Any(o => o.Expectation.Kind == ExpectKind.TraceHash && !o.Passed))
            {
                string text = Checks.UpdateGolden(set, outcomes, out int changed);
                WriteAtomically(set.File, w => w.Write(text));
                updated += changed;
                Console.Out.WriteLine($"{set.File}: updated {changed} golden trace hash(es)");
                outcomes = outcomes.Select(o => o.Expectation.Kind == ExpectKind.TraceHash && !o.Passed
                    ? o with { Passed = true, Message = $"golden hash updated from {o.Expected}" } : o).ToList();
            }
            Print(scenario, outcomes, quiet);
            suites.Add((scenario, outcomes, clock.Elapsed));
            failed += outcomes.Count(o => !o.Passed);
            total += outcomes.Count;
        }
        if (junit is not null) WriteAtomically(junit, w => Checks.WriteJUnit(w, suites));
        Console.Out.WriteLine($"{total - failed} of {total} expectation(s) passed{(failed > 0 ? $", {failed} failed" : "")}" +
                              $"{(updated > 0 ? $" ({updated} golden hash(es) updated)" : "")}{(junit is not null ? $"; JUnit report: {junit}" : "")}");
        return failed > 0 ? ExitCodes.ExpectationFailed : ExitCodes.Ok;
    }

    private static void Print(Scenario scenario, IReadOnlyList<CheckOutcome> outcomes, bool quiet)
    {
        TextWriter o = Console.Out;
        if (!quiet) o.WriteLine($"{scenario.File} ({scenario.Name}):");
        foreach (CheckOutcome c in outcomes)
        {
            if (quiet && c.Passed) continue;
            o.WriteLine($"  {(c.Passed ? "pass" : "FAIL")}  {c.Overlay,-12} {c.Name}");
            o.WriteLine($"        expected {c.Expected}; measured {c.Measured}{(c.Interval.Length > 0 ? $"; interval {c.Interval}" : "")}" +
                        $"{(c.Message.Length > 0 ? $"; {c.Message}" : "")}{(c.Passed ? "" : $" ({c.Expectation.Origin})")}");
        }
    }

    /// <summary>Writes a file through a temporary file beside it and a rename, so that it is never half written.</summary>
    /// <summary>Writes a file whole or not at all: into a hidden temporary beside it, then renamed over it.</summary>
    internal static void WriteAtomically(string path, Action<TextWriter> write)
    {
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.partial-{Environment.ProcessId}");
        try
        {
            using (var writer = new StreamWriter(temp, append: false, new System.Text.UTF8Encoding(false)))
                write(writer);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
