using OverlaySim.Scenarios;

namespace OverlaySim.Output;

/// <summary>
/// A result folder written atomically: every file goes to a hidden staging folder beside the target, which
/// is renamed into place only when all files are complete. A failed or interrupted run leaves no
/// half-written file in the target, and an existing non-empty target is replaced only with <c>force</c>.
/// </summary>
public sealed class ResultFolder : IDisposable
{
    private readonly string _target;
    private readonly bool _force;
    private bool _committed;

    private ResultFolder(string target, bool force, string staging)
    {
        _target = target;
        _force = force;
        StagingPath = staging;
    }

    public string TargetPath => _target;

    /// <summary>Where files are written until <see cref="Commit"/>.</summary>
    public string StagingPath { get; }

    /// <summary>
    /// Fails (as a usage error, exit 2) when <paramref name="target"/> exists and is not empty and
    /// <paramref name="force"/> is off. Call before running, so that a long run is not wasted.
    /// </summary>
    public static void CheckWritable(string target, bool force)
    {
        if (File.Exists(target))
            throw new ScenarioException(new Origin(target, 0, 0), "the output path is a file, not a folder");
        if (!force && Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
            throw new ScenarioException(new Origin(target, 0, 0),
                "the result folder exists and is not empty; choose another with --out, or pass --force to replace it");
    }

    public static ResultFolder Begin(string target, bool force)
    {
        CheckWritable(target, force);
        string full = Path.GetFullPath(target);
        string parent = Path.GetDirectoryName(full.TrimEnd(Path.DirectorySeparatorChar))!;
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, $".{Path.GetFileName(full.TrimEnd(Path.DirectorySeparatorChar))}.partial-{Environment.ProcessId}");
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        return new ResultFolder(full.TrimEnd(Path.DirectorySeparatorChar), force, staging);
    }

    public string FilePath(string name) => Path.Combine(StagingPath, name);

    /// <summary>Moves the staging folder into place (replacing the old target only with force).</summary>
    public void Commit()
    {
        CheckWritable(_target, _force); // someone may have written there while we ran
        string? old = null;
        if (Directory.Exists(_target))
        {
            old = _target + $".old-{Environment.ProcessId}";
            Directory.Move(_target, old);
        }
        Directory.Move(StagingPath, _target);
        _committed = true;
        if (old is not null) Directory.Delete(old, recursive: true);
    }

    /// <summary>Removes the staging folder if the results were not committed.</summary>
    public void Dispose()
    {
        if (!_committed && Directory.Exists(StagingPath))
        {
            try { Directory.Delete(StagingPath, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }
}
