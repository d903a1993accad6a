using System.CommandLine;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using OverlaySim.Output;
using OverlaySim.Scenarios;

namespace OverlaySim.Cli;

/// <summary>
/// <c>overlaysim slurm SCENARIO</c>: a sweep on a Slurm cluster. Writes an array job (one task per shard, each
/// <c>overlaysim run --shard I/N --resume</c>) and a merge job that depends on it (<c>afterok</c>, cancelled when a
/// task fails), submits both with <c>sbatch</c> and says where the result will be. The cluster must share the file
/// system where OverlaySim, the scenario and the result folder are, as clusters do for home and project folders.
/// </summary>
public static class SlurmCommand
{
    /// <summary>The default number of array tasks: one per run, at most this many (a task costs a few seconds of scheduling).</summary>
    public const int DefaultMaxTasks = 64;

    /// <summary>What the scripts record in the work folder, so that --force replaces only a folder this command wrote.</summary>
    private const string Marker = "slurm.json";

    private static readonly string[] OwnEntries = [Marker, "array.sbatch", "merge.sbatch", "rerun.sh", "array.jobid", "merge.jobid", "logs", "shards", "failed"];

    public static Command Create()
    {
        var scenario = new Argument<string>("scenario") { Description = "the scenario YAML file" };
        var outDir = new Option<string?>("--out") { Description = "the result folder the merge job writes (default: results/<scenario name>/); the scripts, logs and shards go beside it, in <out>.slurm/" };
        var seed = new Option<string?>("--seed") { Description = "master seed, overriding the scenario's 'seed'" };
        var set = RunCommand.SetOption();
        var tasks = new Option<int?>("--tasks") { Description = $"array tasks, one shard each (default: one per run, at most {DefaultMaxTasks})" };
        var partition = new Option<string?>("--partition") { Description = "the Slurm partition (sbatch --partition)" };
        var time = new Option<string?>("--time") { Description = "time limit of each task (sbatch --time: MINUTES, HH:MM:SS, D-HH:MM ...)" };
        var mem = new Option<string?>("--mem") { Description = "memory of each task (sbatch --mem, e.g. 4G; default: the largest run's estimate plus a quarter)" };
        var sbatchArg = new Option<string[]>("--sbatch-arg") { Description = "one more sbatch option for both jobs, e.g. --sbatch-arg=--account=proj (repeatable)", AllowMultipleArgumentsPerToken = false };
        var dryRun = new Option<bool>("--dry-run") { Description = "write the scripts and print how to submit them; submit nothing" };
        var force = new Option<bool>("--force") { Description = "replace a previous <out>.slurm/ folder of this command, and let the merge replace a previous result folder" };
        var command = new Command("slurm",
            "Run a sweep on a Slurm cluster: an array job of shards ('run --shard I/N') and a merge job that writes the result folder, " +
            "byte-identical to a single 'run'. A failed task cancels the merge; <out>.slurm/failed/ names it and <out>.slurm/rerun.sh I reruns just it and the merge. " + ExitCodes.Help)
        {
            scenario, outDir, seed, set, tasks, partition, time, mem, sbatchArg, dryRun, force,
        };
        command.SetAction(parse => Execute(parse.GetValue(scenario)!, parse.GetValue(outDir), RunCommand.Overrides(parse.GetValue(set), parse.GetValue(seed)),
            parse.GetValue(tasks), parse.GetValue(partition), parse.GetValue(time), parse.GetValue(mem), parse.GetValue(sbatchArg) ?? [], parse.GetValue(dryRun), parse.GetValue(force)));
        return command;
    }

    public static int Execute(string scenarioPath, string? outDir, IReadOnlyList<string> sets, int? tasks, string? partition, string? time, string? mem,
        IReadOnlyList<string> sbatchArgs, bool dryRun, bool force)
    {
        if (partition is not null && !Regex.IsMatch(partition, @"^[A-Za-z0-9_.,\-]{1,200}$"))
            throw new ScenarioException(Origin.FromCommandLine($"--partition {Diagnostic.Clip(partition, 60)}"), "expected a partition name (letters, digits, '_', '.', '-', or a comma-separated list)");
        if (time is not null && !Regex.IsMatch(time, @"^(\d{1,7}|\d{1,7}:\d{1,2}(:\d{1,2})?|\d{1,4}-\d{1,2}(:\d{1,2}(:\d{1,2})?)?|infinite|UNLIMITED)$"))
            throw new ScenarioException(Origin.FromCommandLine($"--time {Diagnostic.Clip(time, 60)}"), "expected a Slurm time limit: MINUTES, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS");
        if (mem is not null && !Regex.IsMatch(mem, @"^\d{1,9}[KMGT]?$"))
            throw new ScenarioException(Origin.FromCommandLine($"--mem {Diagnostic.Clip(mem, 60)}"), "expected a memory size in Slurm's form: a number of megabytes, or with a unit K, M, G or T (e.g. 4G)");
        foreach (string arg in sbatchArgs)
            if (!arg.StartsWith('-') || arg.Any(char.IsControl))
                throw new ScenarioException(Origin.FromCommandLine($"--sbatch-arg {Diagnostic.Clip(arg, 60)}"), "expected one sbatch option starting with '-' on one line (e.g. --sbatch-arg=--account=proj)");

        Scenario scenario = ScenarioLoader.Load(scenarioPath, sets);
        Checks.Load(scenario);
        PlotSpecs.Load(scenario, CsvResults.MetricColumns);
        IReadOnlyList<PlannedRun> plan = Runner.Plan(scenario);
        int n = tasks ?? Math.Min(plan.Count, DefaultMaxTasks);
        if (n < 1 || n > Math.Min(plan.Count, ShardSpec.MaxCount))
            throw new ScenarioException(Origin.FromCommandLine($"--tasks {n}"), $"expected between 1 and the number of runs ({plan.Count})");

        string target = Path.GetFullPath(outDir ?? Path.Combine("results", scenario.Name));
        ResultFolder.Check(target, force); // what the merge will write: refused now rather than after the sweep
        string work = Path.TrimEndingDirectorySeparator(target) + ".slurm";
        // Slurm reads #SBATCH lines without shell quoting, and '%' in an output path is a pattern: such paths are refused.
        if (work.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '%' or '\'' or '"' or '\\' or '$' or '`'))
            throw new ScenarioException(new Origin(work, 0, 0), "the Slurm scripts' folder must have a path without spaces, quotes, backslashes, '$', '`' or '%' (Slurm reads it unquoted); choose another --out");
        PrepareWork(work, force);

        long largest = plan.Max(Runner.EstimateBytes);
        string taskMem = mem ?? $"{Math.Max(512, (long)Math.Ceiling(largest * 1.25 / (1 << 20)))}M";
        // The merge holds every run's rows at once: a few hundred bytes per run, the time series and hop histograms.
        string mergeMem = mem ?? $"{Math.Max(Math.Max(2048, (long)Math.Ceiling(largest * 1.25 / (1 << 20))), 1024 + plan.Sum(MergeBytes) / (1 << 20))}M";
        string[] cli = Invocation();
        string cwd = Environment.CurrentDirectory;
        string scenarioFile = Path.GetFullPath(scenario.File);
        var header = new List<string>();
        if (partition is not null) header.Add($"--partition={partition}");
        if (time is not null) header.Add($"--time={time}");
        header.AddRange(sbatchArgs);

        string shardsDir = Path.Combine(work, "shards");
        string logs = Path.Combine(work, "logs");
        Directory.CreateDirectory(shardsDir);
        Directory.CreateDirectory(logs);
        string array = Path.Combine(work, "array.sbatch");
        string merge = Path.Combine(work, "merge.sbatch");
        string rerun = Path.Combine(work, "rerun.sh");
        string nText = n.ToString(CultureInfo.InvariantCulture);

        var a = new StringBuilder();
        a.Append("#!/bin/bash\n");
        a.Append($"#SBATCH --job-name={JobName(scenario.Name)}\n");
        a.Append($"#SBATCH --array=1-{nText}\n");
        a.Append("#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=1\n");
        a.Append($"#SBATCH --mem={taskMem}\n");
        a.Append($"#SBATCH --output={Path.Combine(logs, "shard-%a.out")}\n");
        foreach (string h in header) a.Append($"#SBATCH {h}\n");
        a.Append($"# Shard I of {nText} of the sweep '{Comment(scenario.Name)}' ({plan.Count} runs), written by {Comment(Manifest.Version)}.\n");
        a.Append("# --resume keeps what an earlier attempt at the shard finished, and does nothing if the shard is complete.\n");
        a.Append("set -u\n");
        a.Append($"cd {Quote(cwd)} || exit 1\n");
        a.Append("i=$SLURM_ARRAY_TASK_ID\n");
        a.Append("# In the background and waited for through signals: at a time limit or preemption Slurm sends SIGTERM to every process\n");
        a.Append("# of the job; OverlaySim keeps its finished runs and exits 143, and this script lives on to write the note below.\n");
        a.Append($"{string.Join(' ', cli.Select(Quote))} run {Quote(scenarioFile)}{string.Concat(sets.Select(s => " --set " + Quote(s)))} " +
                 $"--shard \"$i/{nText}\" --out {Quote(shardsDir)}/shard-\"$i\" --resume --no-figures --quiet &\n");
        a.Append("pid=$!\n");
        a.Append("trap ':' TERM INT\n");
        a.Append("wait \"$pid\"; rc=$?\n");
        a.Append("while kill -0 \"$pid\" 2>/dev/null; do wait \"$pid\"; rc=$?; done\n");
        a.Append($"failed={Quote(Path.Combine(work, "failed"))}\n");
        a.Append("if [ \"$rc\" -ne 0 ]; then\n");
        a.Append("  mkdir -p \"$failed\"\n");
        a.Append($"  printf 'shard %s/{nText} failed with exit code %s (array job %s, log %s)\\nrerun just it, then the merge: %s %s\\n' " +
                 $"\"$i\" \"$rc\" \"${{SLURM_ARRAY_JOB_ID:-?}}\" {Quote(logs)}/shard-\"$i\".out {Quote(rerun)} \"$i\" > \"$failed/shard-$i.txt\"\n");
        a.Append($"  echo \"overlaysim: shard $i/{nText} failed (exit code $rc); the merge job is cancelled. Rerun just this shard and the merge with: \"{Quote(rerun)}\" $i\" >&2\n");
        a.Append("else\n  rm -f \"$failed/shard-$i.txt\"\nfi\n");
        a.Append("exit \"$rc\"\n");

        var m = new StringBuilder();
        m.Append("#!/bin/bash\n");
        m.Append($"#SBATCH --job-name={JobName(scenario.Name)}-merge\n");
        m.Append("#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=1\n");
        m.Append($"#SBATCH --mem={mergeMem}\n");
        m.Append($"#SBATCH --output={Path.Combine(logs, "merge.out")}\n");
        foreach (string h in header) m.Append($"#SBATCH {h}\n");
        m.Append("# Merges the shards into the result folder once every array task has succeeded (submitted with --dependency=afterok).\n");
        m.Append("set -u\n");
        m.Append($"cd {Quote(cwd)} || exit 1\n");
        m.Append($"{string.Join(' ', cli.Select(Quote))} merge");
        for (int i = 1; i <= n; i++) m.Append($" {Quote(Path.Combine(shardsDir, $"shard-{i.ToString(CultureInfo.InvariantCulture)}"))}");
        m.Append($" --out {Quote(target)}{(force ? " --force" : "")} --quiet\n");

        var r = new StringBuilder();
        r.Append("#!/bin/bash\n");
        r.Append($"# Reruns shards of the sweep '{Comment(scenario.Name)}', then the merge: rerun.sh I [J ...] reruns those shards;\n");
        r.Append("# rerun.sh alone reruns every shard whose folder is not finished (a failed task, a time limit, a lost node), or\n");
        r.Append("# only the merge when all are. Run it once the array's tasks have ended (see squeue); a shard keeps what it had finished.\n");
        r.Append("set -eu\n");
        r.Append("cd \"$(dirname \"$0\")\"\n");
        r.Append("if [ $# -eq 0 ]; then\n");
        r.Append($"  for i in $(seq 1 {nText}); do [ -f \"shards/shard-$i/manifest.json\" ] || set -- \"$@\" \"$i\"; done\n");
        r.Append("  if [ $# -eq 0 ]; then\n");
        r.Append("    merge=$(sbatch --parsable merge.sbatch); merge=${merge%%;*}; echo \"$merge\" > merge.jobid\n");
        r.Append("    echo \"every shard is finished; merge: job $merge\"; exit 0\n");
        r.Append("  fi\n");
        r.Append("fi\n");
        r.Append($"for i in \"$@\"; do case \"$i\" in ''|*[!0-9]*) echo \"not a shard number: $i\" >&2; exit 2;; esac; " +
                 $"if [ \"$i\" -lt 1 ] || [ \"$i\" -gt {nText} ]; then echo \"shard $i is not between 1 and {nText}\" >&2; exit 2; fi; rm -f \"failed/shard-$i.txt\"; done\n");
        r.Append("list=$(IFS=,; echo \"$*\")\n");
        r.Append("array=$(sbatch --parsable --array=\"$list\" array.sbatch); array=${array%%;*}\n");
        r.Append("merge=$(sbatch --parsable --dependency=afterok:\"$array\" --kill-on-invalid-dep=yes merge.sbatch); merge=${merge%%;*}\n");
        r.Append("echo \"$array\" > array.jobid; echo \"$merge\" > merge.jobid\n");
        r.Append("echo \"shards $list: array job $array; merge: job $merge\"\n");

        WriteScript(array, a.ToString());
        WriteScript(merge, m.ToString());
        WriteScript(rerun, r.ToString());
        File.WriteAllText(Path.Combine(work, Marker),
            $"{{\n  \"written_by\": \"overlaysim slurm\",\n  \"overlaysim_version\": \"{Manifest.Version}\",\n  \"scenario\": {System.Text.Json.JsonSerializer.Serialize(scenario.Name)},\n" +
            $"  \"sweep_fingerprint\": \"{Sweep.Fingerprint(scenario)}\",\n  \"tasks\": {nText},\n  \"runs\": {plan.Count},\n  \"result\": {System.Text.Json.JsonSerializer.Serialize(target)}\n}}\n");

        Console.WriteLine($"wrote {array} ({n} array task(s) for {plan.Count} run(s), {taskMem} each), {merge} and {rerun}");
        if (dryRun)
        {
            Console.WriteLine("dry run: nothing submitted. To submit:");
            Console.WriteLine($"  array=$(sbatch --parsable {Quote(array)})");
            Console.WriteLine($"  sbatch --dependency=afterok:${{array%%;*}} --kill-on-invalid-dep=yes {Quote(merge)}");
            return ExitCodes.Ok;
        }

        string arrayJob = Submit(["--parsable", array]);
        File.WriteAllText(Path.Combine(work, "array.jobid"), arrayJob + "\n");
        string mergeJob;
        try
        {
            mergeJob = Submit(["--parsable", $"--dependency=afterok:{arrayJob}", "--kill-on-invalid-dep=yes", merge]);
        }
        catch (RunFailedException e)
        {
            throw new RunFailedException($"{e.Message}. The array job {arrayJob} was submitted and runs without a merge: cancel it with 'scancel {arrayJob}', " +
                                         $"or let it finish and submit the merge yourself: sbatch {Quote(merge)}");
        }
        File.WriteAllText(Path.Combine(work, "merge.jobid"), mergeJob + "\n");
        Console.WriteLine($"submitted array job {arrayJob} ({n} task(s)) and merge job {mergeJob}");
        Console.WriteLine($"the result will be in {target}/ (logs: {logs}/; watch with: squeue -j {arrayJob},{mergeJob})");
        Console.WriteLine($"if a task fails the merge is cancelled and {Path.Combine(work, "failed")}/ names the shard; {rerun} I reruns just it and the merge, " +
                          $"and {rerun} alone reruns whatever did not finish (also after a time limit or a lost node)");
        return ExitCodes.Ok;
    }

    /// <summary>A run's share of the merge's memory: its rows as strings (about 64 bytes a field), time series and hops included.</summary>
    private static long MergeBytes(PlannedRun run)
    {
        ScenarioPoint p = run.Point;
        double span = p.Duration > 0 ? p.Duration : 0;
        double rows = p.SampleEvery > 0 ? span / p.SampleEvery : 0;
        return (long)Math.Min(1e15, 64 * (80 + 10 * (rows + 64)));
    }

    /// <summary>How this very OverlaySim is started: the dotnet host and the CLI's assembly, or the app host alone.</summary>
    private static string[] Invocation()
    {
        string host = Environment.ProcessPath ?? "dotnet";
        string dll = typeof(Program).Assembly.Location;
        return Path.GetFileNameWithoutExtension(host) == "dotnet" && dll.Length > 0 ? [host, dll] : [host];
    }

    /// <summary>
    /// Creates the work folder, or with force replaces one this command wrote (it holds the marker and nothing but
    /// what the command writes); anything else is refused and left alone.
    /// </summary>
    private static void PrepareWork(string work, bool force)
    {
        var at = new Origin(work, 0, 0);
        if (File.Exists(work) || new FileInfo(work).LinkTarget is not null)
            throw new ScenarioException(at, "is a file or a symbolic link; the Slurm scripts, logs and shards go into a folder of this name");
        if (Directory.Exists(work) && Directory.EnumerateFileSystemEntries(work).Any())
        {
            if (!force)
                throw new ScenarioException(at, "exists and is not empty (an earlier submission?); rerun failed shards with its rerun.sh, or pass --force to replace it");
            var foreign = Directory.EnumerateFileSystemEntries(work).Select(Path.GetFileName).Where(e => !OwnEntries.Contains(e)).ToList();
            foreach (var (sub, pattern) in (ReadOnlySpan<(string, string)>)[("logs", @"^(shard-\d+|merge)\.out$"), ("shards", @"^\.?shard-\d+(\.(lock|partial-\d+|old-\d+))?$"), ("failed", @"^shard-\d+\.txt$")])
                if (Directory.Exists(Path.Combine(work, sub)))
                    foreign.AddRange(Directory.EnumerateFileSystemEntries(Path.Combine(work, sub)).Select(e => $"{sub}/{Path.GetFileName(e)}").Where(e => !Regex.IsMatch(e[(sub.Length + 1)..], pattern)));
            if (!File.Exists(Path.Combine(work, Marker)) || foreign.Count > 0)
                throw new ScenarioException(at, "--force replaces only a folder written by 'overlaysim slurm', and this is not one" +
                                                (foreign.Count > 0 ? $" (it holds '{Diagnostic.Clip(foreign[0]!)}')" : "") + ". Nothing was deleted");
            foreach (string jobs in (string[])["array.jobid", "merge.jobid"])
                if (File.Exists(Path.Combine(work, jobs)) && File.ReadAllText(Path.Combine(work, jobs)).Trim() is { Length: > 0 } id && Regex.IsMatch(id, @"^\d+$") && Queued(id))
                    throw new ScenarioException(at, $"job {id} of the earlier submission is still queued or running (squeue -j {id}); cancel it with 'scancel {id}' or wait for it before replacing its folder. Nothing was deleted");
            Directory.Delete(work, recursive: true);
        }
        try
        {
            Directory.CreateDirectory(work);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RunFailedException($"cannot create '{work}' for the Slurm scripts: {e.Message}");
        }
    }

    /// <summary>Runs a Slurm command to its end: exit code, stdout and stderr; null when the command is not on PATH.</summary>
    private static (int Exit, string Out, string Error)? RunSlurm(string command, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        try
        {
            using Process p = Process.Start(start)!;
            Task<string> err = p.StandardError.ReadToEndAsync();
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output, err.Result);
        }
        catch (Win32Exception)
        {
            return null;
        }
    }

    /// <summary>True when squeue lists the job as pending or running; false when it does not, or squeue cannot be run.</summary>
    private static bool Queued(string job) =>
        RunSlurm("squeue", ["-h", "-j", job, "-o", "%i"]) is { Exit: 0 } r && r.Out.Trim().Length > 0;

    private static string Submit(string[] args)
    {
        var (exit, output, error) = RunSlurm("sbatch", args)
            ?? throw new RunFailedException("sbatch was not found on PATH: the scripts are written (see above), but nothing was submitted; run this where Slurm's commands are (a login node), or submit them as --dry-run shows");
        if (exit != 0)
            throw new RunFailedException($"sbatch {string.Join(' ', args)} failed (exit code {exit}): {Diagnostic.Clip(error.Trim(), 400)}");
        string id = output.Trim().Split(';')[0];
        if (!Regex.IsMatch(id, @"^\d+$")) throw new RunFailedException($"sbatch printed '{Diagnostic.Clip(output.Trim())}', not a job id");
        return id;
    }

    private static void WriteScript(string path, string text)
    {
        File.WriteAllText(path, text, new UTF8Encoding(false));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    /// <summary>A word for bash: single-quoted, with any single quote closed, escaped and reopened.</summary>
    public static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static string JobName(string scenario) => "overlaysim-" + new string(scenario.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').Take(40).ToArray());

    private static string Comment(string s) => new(s.Select(c => char.IsControl(c) ? ' ' : c).ToArray());
}
