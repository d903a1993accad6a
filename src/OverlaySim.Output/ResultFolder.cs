using System.Text.Json;
using OverlaySim.Scenarios;

namespace OverlaySim.Output;

/// <summary>
/// A result folder written atomically, and the only thing a run may delete.
/// </summary>
/// <remarks>
/// <para><see cref="Open"/> runs before anything is built. It refuses a target that is not a plain new or
/// empty folder: the working folder or one of its ancestors, a path ending in <c>.</c> or <c>..</c>, a symbolic
/// link, a file, and (even with <c>force</c>) a non-empty folder that is not a previous result folder. A result
/// folder is recognised by its <c>manifest.json</c>, which names OverlaySim's version and every file of the
/// folder; a folder holding anything else is never replaced. <c>force</c> replaces a previous result
/// folder and nothing else.</para>
/// <para>It then takes a lock (an exclusive <c>flock</c> on <c>.NAME.lock</c> beside the target, released by
/// the kernel if the process dies) so that two runs cannot write one folder, and creates the hidden staging
/// folder <c>.NAME.partial-PID</c> beside the target, which proves that the place is writable. Every file is
/// written there; <see cref="Commit"/> renames it into place, moving a replaced folder aside first and
/// deleting it last. An interrupted or failed run leaves the target as it was.</para>
/// <para>Whoever holds the lock owns the <c>.NAME.partial-PID</c> and <c>.NAME.old-PID</c> folders beside it that
/// hold only result files, so stale ones (left by a process that was killed) are cleaned up there: a staging
/// folder is deleted; a folder moved aside by a commit that was cut short is put back when the target is missing,
/// else deleted. Any other folder of such a name is the user's and is left alone.</para>
/// </remarks>
public sealed class ResultFolder : IDisposable
{
    /// <summary>The files a run writes; a folder holding only these and a manifest is a result folder.</summary>
    public static readonly IReadOnlyList<string> StandardFiles = ["runs.csv", "summary.csv", "hops.csv", "timeseries.csv", "traffic.csv", "zones.csv", "manifest.json", Sweep.FileName];

    /// <summary>The subfolders a result folder may have: figures, and a shard's run records.</summary>
    public static readonly IReadOnlyList<string> Subfolders = [FiguresFolder, RunRecord.Folder];

    /// <summary>The longest result folder name, in UTF-8 bytes: with ".NAME.partial-PID" beside it, still within a file name's 255.</summary>
    public const int MaxNameLength = 200;

    /// <summary>
    /// The errno (EWOULDBLOCK: 11 on Linux, 35 on macOS) that .NET puts in the HResult of the IOException a taken
    /// lock raises; any other I/O error on the lock file is a folder we cannot write, not a second run.
    /// </summary>
    private const int EWouldBlock = 11, EWouldBlockMac = 35;

    private readonly bool _force;
    private bool _keep;
    private readonly FileStream _lock;
    private readonly string _lockPath;
    private readonly List<string> _files = [];
    private readonly List<string> _created; // folders above the target that this run created, deepest first
    private bool _committed;

    private ResultFolder(string target, bool force, string staging, FileStream lockFile, string lockPath, List<string> created)
    {
        TargetPath = target;
        _force = force;
        StagingPath = staging;
        _lock = lockFile;
        _lockPath = lockPath;
        _created = created;
    }

    /// <summary>The target, as a full path without a trailing separator.</summary>
    public string TargetPath { get; }

    /// <summary>Where files are written until <see cref="Commit"/>.</summary>
    public string StagingPath { get; }

    /// <summary>Where the finished runs' records go (<c>runs/</c> in the staging folder), one file each as it finishes.</summary>
    public string RecordsPath => Path.Combine(StagingPath, RunRecord.Folder);

    /// <summary>With resume: the number of finished runs found in an interrupted attempt's staging folder, now ours.</summary>
    public int Resumed { get; private set; }

    /// <summary>Finished runs of an interrupted attempt that were discarded (not resumed) when the folder was opened.</summary>
    public int Discarded { get; private set; }

    /// <summary>The names handed out by <see cref="FilePath"/>, in order: what the manifest lists.</summary>
    public IReadOnlyList<string> Files => _files;

    /// <summary>
    /// Checks the target, takes the lock and creates the staging folder. Throws <see cref="ScenarioException"/>
    /// (exit 2) for a target that must not be written, and <see cref="RunFailedException"/> (exit 3) when the
    /// place cannot be written or another run holds it.
    /// </summary>
    /// <param name="resume">With <c>--resume</c>, the sweep being run: an interrupted attempt's staging folder of the same
    /// sweep (and shard) becomes this run's, with its finished runs; one of another sweep is refused and left alone.</param>
    public static ResultFolder Open(string target, bool force, Sweep.Info? resume = null)
    {
        string full = Check(target, force);
        string parent = Path.GetDirectoryName(full)!;
        string name = Path.GetFileName(full);
        var created = new List<string>();
        for (string? d = parent; d is not null && !Directory.Exists(d); d = Path.GetDirectoryName(d)) created.Add(d);
        try
        {
            Directory.CreateDirectory(parent);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RunFailedException($"cannot create the folder '{parent}' for the results: {e.Message}");
        }

        string lockPath = Path.Combine(parent, $".{name}.lock");
        FileStream lockFile;
        try
        {
            // FileShare.None takes an exclusive advisory lock (flock) on Unix; a second run fails here.
            lockFile = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new RunFailedException($"cannot write results beside '{full}': {e.Message}");
        }
        catch (IOException e) when (e.HResult is EWouldBlock or EWouldBlockMac)
        {
            throw new RunFailedException($"another overlaysim run is writing to '{full}' (it holds {lockPath}); wait for it, or choose another --out");
        }
        catch (IOException e)
        {
            throw new RunFailedException($"cannot write results beside '{full}': {e.Message}");
        }

        try
        {
            lockFile.SetLength(0);
            lockFile.Write(System.Text.Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n"));
            lockFile.Flush();
            string staging = Path.Combine(parent, $".{name}.partial-{Environment.ProcessId}");
            int resumed = resume is null ? 0 : Adopt(parent, name, staging, resume);
            if (resume is null && !force && Unfinished(parent, name) is { } left)
                throw new ScenarioException(new Origin(full, 0, 0),
                    $"an interrupted run on this folder left {left.Runs} finished run(s) in '{left.Dir}': pass --resume to keep them and carry out only the rest, " +
                    "or --force to discard them");
            int discarded = RecoverStale(parent, name, full, resumed > 0 ? staging : null); // not the folder just resumed
            Check(target, force); // recovery may have put a folder back
            Directory.CreateDirectory(staging);
            Directory.CreateDirectory(Path.Combine(staging, RunRecord.Folder));
            return new ResultFolder(full, force, staging, lockFile, lockPath, created) { Resumed = resumed, Discarded = discarded };
        }
        catch (Exception e)
        {
            TryDelete(lockPath);
            lockFile.Dispose();
            RemoveEmpty(created);
            if (e is IOException or UnauthorizedAccessException)
                throw new RunFailedException($"cannot write results beside '{full}': {e.Message}");
            throw;
        }
    }

    /// <summary>The checks of <see cref="Open"/> that need no lock; returns the full target path.</summary>
    public static string Check(string target, bool force)
    {
        var at = new Origin(target, 0, 0);
        if (string.IsNullOrWhiteSpace(target))
            throw new ScenarioException(Origin.FromCommandLine("--out \"\""), "expected a folder path for the results");
        string last = Path.GetFileName(target.TrimEnd('/', Path.DirectorySeparatorChar));
        if (last is "." or ".." || target.TrimEnd('/', Path.DirectorySeparatorChar).Length == 0)
            throw new ScenarioException(at, "a result folder must be named by a path that ends in a new folder's name, not '.', '..' or '/'");
        int bytes = System.Text.Encoding.UTF8.GetByteCount(last);
        if (bytes > MaxNameLength)
            throw new ScenarioException(at, $"a result folder's name may have at most {MaxNameLength} bytes (its staging folder and lock beside it are named after it); this one has {bytes}");
        string full;
        try
        {
            full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target));
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new ScenarioException(at, $"not a usable path: {e.Message}");
        }
        string cwd = Path.TrimEndingDirectorySeparator(Path.GetFullPath(Environment.CurrentDirectory));
        if (Path.GetDirectoryName(full) is null || cwd == full || cwd.StartsWith(full + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ScenarioException(at, "is the working folder or one of its parents; results go into a folder of their own");

        var info = new FileInfo(full);
        if (info.LinkTarget is not null)
            throw new ScenarioException(at, $"is a symbolic link (to '{info.LinkTarget}'); give the folder itself");
        if (File.Exists(full))
            throw new ScenarioException(at, "the output path is a file, not a folder");
        if (!Directory.Exists(full) || !Directory.EnumerateFileSystemEntries(full).Any()) return full;
        if (!force)
            throw new ScenarioException(at, "the result folder exists and is not empty; choose another with --out, or pass --force to replace it");
        if (NotAResultFolder(full) is { } why)
            throw new ScenarioException(at,
                $"--force replaces only a previous result folder, and this is not one: {why}. Nothing was deleted; move it away or choose another --out");
        return full;
    }

    /// <summary>Null when <paramref name="folder"/> is a result folder; else why not.</summary>
    public static string? NotAResultFolder(string folder)
    {
        string manifest = Path.Combine(folder, "manifest.json");
        var listed = new HashSet<string>(StandardFiles, StringComparer.Ordinal);
        try
        {
            if (!IsPlainFile(manifest)) return "it has no manifest.json";
            if (new FileInfo(manifest).Length > 64L << 20) return "its manifest.json is too large to be OverlaySim's";
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(manifest));
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("overlaysim_version", out _))
                return "its manifest.json was not written by OverlaySim";
            if (doc.RootElement.TryGetProperty("files", out JsonElement files) && files.ValueKind == JsonValueKind.Array)
                foreach (JsonElement f in files.EnumerateArray())
                    if (f.ValueKind == JsonValueKind.String && f.GetString() is { } s) listed.Add(s);
            var others = new List<string>();
            foreach (string entry in Directory.EnumerateFileSystemEntries(folder))
            {
                string rel = Path.GetFileName(entry);
                if (Subfolders.Contains(rel) && IsPlainFolder(entry))
                {
                    // The figures or a shard's records: a plain folder of plain files, each listed as SUB/NAME.
                    foreach (string file in Directory.EnumerateFileSystemEntries(entry))
                    {
                        string name = $"{rel}/{Path.GetFileName(file)}";
                        if (!IsPlainFile(file) || !listed.Contains(name)) others.Add(name);
                    }
                    continue;
                }
                if (!IsPlainFile(entry) || !listed.Contains(rel)) others.Add(rel);
            }
            if (others.Count > 0)
                return $"it holds {string.Join(", ", others.Order(StringComparer.Ordinal).Take(5).Select(o => $"'{Diagnostic.Clip(o)}'"))}" +
                       (others.Count > 5 ? $" and {others.Count - 5} more" : "") + ", which OverlaySim did not write";
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return $"it cannot be read as one ({e.Message})";
        }
    }

    /// <summary>The subfolder of figures (<c>figures/NAME.png</c>), the only subfolder a result folder has.</summary>
    public const string FiguresFolder = "figures";

    /// <summary>A file of the result, inside the staging folder (<c>figures/NAME</c> for a figure, <c>runs/NAME</c> for a record).</summary>
    public string FilePath(string name)
    {
        string[] parts = name.Split('/');
        if (parts.Any(p => p.Length == 0 || p == "." || p == ".." || p.Contains('\\')) || parts.Length > 2 || parts.Length == 2 && !Subfolders.Contains(parts[0]))
            throw new ArgumentException($"'{name}' is not a result file name (NAME, {FiguresFolder}/NAME or {RunRecord.Folder}/NAME)", nameof(name));
        if (!_files.Contains(name)) _files.Add(name);
        string path = Path.Combine(StagingPath, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }

    /// <summary>
    /// Moves the staging folder into place, replacing the old target only with force and only if it is still a
    /// result folder. Between the two renames the target is briefly missing; a process killed there leaves the
    /// old folder as <c>.NAME.old-PID</c>, which the next run on the target puts back.
    /// </summary>
    /// <param name="keepRecords">True for a shard folder, which is its records; a plain result drops them (and the
    /// sweep file) just before the renames, so that an interruption before that point keeps every finished run.</param>
    public void Commit(bool keepRecords = false)
    {
        Check(TargetPath, _force); // someone may have written there while we ran
        if (!keepRecords) DropRecords();
        string? old = null;
        if (Directory.Exists(TargetPath) && !Directory.EnumerateFileSystemEntries(TargetPath).Any())
            Directory.Delete(TargetPath); // an empty folder: nothing to keep aside
        if (Directory.Exists(TargetPath))
        {
            old = Path.Combine(Path.GetDirectoryName(TargetPath)!, $".{Path.GetFileName(TargetPath)}.old-{Environment.ProcessId}");
            Directory.Move(TargetPath, old);
        }
        Directory.Move(StagingPath, TargetPath);
        _committed = true;
        if (old is not null) Directory.Delete(old, recursive: true);
    }

    /// <summary>The run records that are in the staging folder, by file name, in order.</summary>
    public IReadOnlyList<string> Records() =>
        Directory.Exists(RecordsPath)
            ? Directory.EnumerateFiles(RecordsPath, "run-*.csv").Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToList()
            : [];

    /// <summary>
    /// Keeps the staging folder when the results are not committed (an interrupted or failed run whose finished runs
    /// are worth resuming); true when it holds at least one record, and so was kept.
    /// </summary>
    public bool KeepUnfinished()
    {
        _keep = Records().Count > 0;
        return _keep;
    }

    /// <summary>Removes the run records and the sweep file from the staging folder: a plain result folder holds only the files it names.</summary>
    private void DropRecords()
    {
        if (Directory.Exists(RecordsPath)) Directory.Delete(RecordsPath, recursive: true);
        File.Delete(Path.Combine(StagingPath, Sweep.FileName));
        _files.RemoveAll(f => f == Sweep.FileName || f.StartsWith(RunRecord.Folder + "/", StringComparison.Ordinal));
    }

    /// <summary>
    /// Removes the staging folder if the results were not committed, unless it holds finished runs' records (kept for
    /// <c>--resume</c>, and discarded by the next run without it), and releases the lock.
    /// </summary>
    public void Dispose()
    {
        if (!_committed && !_keep && Directory.Exists(StagingPath) && Records().Count == 0)
        {
            try { Directory.Delete(StagingPath, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        TryDelete(_lockPath); // before closing: deleted while still held, so no other run locks a name on its way out
        _lock.Dispose();
        if (!_committed) RemoveEmpty(_created); // a run that wrote nothing leaves no folders behind either
    }

    /// <summary>Removes the folders a run created for its target, deepest first, as long as they are empty.</summary>
    private static void RemoveEmpty(List<string> created)
    {
        foreach (string d in created)
        {
            try
            {
                if (Directory.Exists(d) && !Directory.EnumerateFileSystemEntries(d).Any()) Directory.Delete(d);
                else return;
            }
            catch (IOException) { return; }
            catch (UnauthorizedAccessException) { return; }
        }
    }

    /// <summary>
    /// Cleans up after a run on this target that was killed (we hold the lock, so no live run owns these): staging
    /// folders <c>.NAME.partial-PID</c> holding nothing but result files, and result folders <c>.NAME.old-PID</c>
    /// moved aside by a commit. A folder of that name with anything else in it, or with a suffix that is not a
    /// process id, is the user's and is left alone.
    /// </summary>
    private static int RecoverStale(string parent, string name, string full, string? resumed)
    {
        int discarded = 0;
        foreach (string dir in Ours(parent, name, "partial"))
            if (dir != resumed && HoldsOnlyResultFiles(dir))
            {
                discarded += CountRecords(dir);
                Directory.Delete(dir, recursive: true);
            }
        // A folder moved aside by a commit: if the target is missing, the commit stopped between its two
        // renames and this is the only copy of the previous result; otherwise the new result is in place and
        // this is what was left to delete.
        foreach (string dir in Ours(parent, name, "old"))
        {
            if (!Directory.Exists(full) && NotAResultFolder(dir) is null) Directory.Move(dir, full);
            else if (HoldsOnlyResultFiles(dir)) Directory.Delete(dir, recursive: true); // also what a cut-short delete left
        }
        return discarded;
    }

    /// <summary>The folders <c>.NAME.KIND-PID</c> beside the target, matched by exact prefix (a --out name may itself hold '*' or '?').</summary>
    private static List<string> Ours(string parent, string name, string kind) =>
        Directory.EnumerateDirectories(parent, ".*")
            .Where(d => Path.GetFileName(d) is var n && n.StartsWith($".{name}.{kind}-", StringComparison.Ordinal)
                        && n.Length > name.Length + kind.Length + 3 && n[(name.Length + kind.Length + 3)..].All(char.IsAsciiDigit)
                        && new DirectoryInfo(d).LinkTarget is null)
            .Order(StringComparer.Ordinal).ToList();

    /// <summary>A stale staging folder beside the target that holds finished runs' records (the one with most), or null.</summary>
    private static (string Dir, int Runs)? Unfinished(string parent, string name)
    {
        (string, int)? most = null;
        foreach (string dir in Ours(parent, name, "partial"))
            if (HoldsOnlyResultFiles(dir) && CountRecords(dir) is var n && n > 0 && (most is null || n > most.Value.Item2)) most = (dir, n);
        return most;
    }

    private static int CountRecords(string dir)
    {
        string records = Path.Combine(dir, RunRecord.Folder);
        return Directory.Exists(records) ? Directory.EnumerateFiles(records, "run-*.csv").Count() : 0;
    }

    /// <summary>
    /// With <c>--resume</c>: makes the stale staging folder of an interrupted attempt at the same sweep (the one with
    /// the most finished runs) this run's staging folder, and returns its number of finished runs. A stale staging
    /// folder of another sweep is refused with an error and left as it is.
    /// </summary>
    private static int Adopt(string parent, string name, string staging, Sweep.Info expected)
    {
        string? best = null;
        int bestCount = -1;
        (string Dir, string Why)? other = null;
        foreach (string dir in Ours(parent, name, "partial"))
        {
            if (!HoldsOnlyResultFiles(dir) || !File.Exists(Path.Combine(dir, Sweep.FileName))) continue;
            int count = CountRecords(dir);
            string? why;
            try
            {
                Sweep.Info info = Sweep.Read(Path.Combine(dir, Sweep.FileName));
                why = Sweep.Difference(info, expected)
                      ?? (info.Shard != expected.Shard ? $"it is {(info.Shard is { } s ? "shard " + s : "the whole sweep")}, and this is {(expected.Shard is { } t ? "shard " + t : "the whole sweep")}" : null);
            }
            catch (ScenarioException e)
            {
                why = $"its {Sweep.FileName} cannot be read ({e.Diagnostics[0].Message})"; // kept, not resumed: it is not known to be this sweep
            }
            if (why is not null)
            {
                if (count > 0) other ??= (dir, why);
                continue;
            }
            if (count > bestCount) (best, bestCount) = (dir, count);
        }
        if (best is null && other is { } o)
            throw new ScenarioException(Origin.FromCommandLine("--resume"),
                $"the interrupted run in '{Diagnostic.Clip(o.Dir, 200)}' was of other runs: {o.Why}. Nothing was deleted; rerun without --resume to discard it, or choose another --out");
        if (best is null || bestCount == 0) return 0;
        if (best != staging) Directory.Move(best, staging); // (the same name when a process id came round again)
        // Only the records and the sweep file carry over: result files, figures and a manifest the interrupted run had
        // begun to write are written again from the records (and a file cut short mid-write goes too).
        foreach (string entry in Directory.EnumerateFileSystemEntries(staging))
            if (Path.GetFileName(entry) is not (Sweep.FileName or RunRecord.Folder))
            {
                if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
            }
        foreach (string f in Directory.EnumerateFiles(Path.Combine(staging, RunRecord.Folder)))
            if (!Path.GetFileName(f).EndsWith(".csv", StringComparison.Ordinal)) File.Delete(f);
        return bestCount;
    }

    private static bool HoldsOnlyResultFiles(string dir) =>
        Directory.EnumerateFileSystemEntries(dir).All(e =>
            StandardFiles.Contains(Path.GetFileName(e), StringComparer.Ordinal) && IsPlainFile(e)
            || Path.GetFileName(e) == FiguresFolder && IsPlainFolder(e)
               && Directory.EnumerateFileSystemEntries(e).All(f => IsPlainFile(f) && Path.GetExtension(f) is ".png" or ".svg")
            || Path.GetFileName(e) == RunRecord.Folder && IsPlainFolder(e)
               && Directory.EnumerateFileSystemEntries(e).All(f => IsPlainFile(f) && Path.GetFileName(f).StartsWith("run-", StringComparison.Ordinal)
                                                                   && (f.EndsWith(".csv", StringComparison.Ordinal) || f.EndsWith(".csv.tmp", StringComparison.Ordinal))));

    /// <summary>A folder that is not a symbolic link.</summary>
    private static bool IsPlainFolder(string path) => Directory.Exists(path) && new DirectoryInfo(path).LinkTarget is null;

    /// <summary>A regular file, not a folder or a symbolic link.</summary>
    private static bool IsPlainFile(string path) => File.Exists(path) && new FileInfo(path).LinkTarget is null;

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
