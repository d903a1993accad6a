using System.CommandLine;
using OverlaySim.Scenarios;

namespace OverlaySim.Cli;

/// <summary>
/// <c>overlaysim examples DIR</c>: copies the shipped scenarios (scenarios/, scenarios/checks/) and the data they read
/// (data/, the PlanetLab matrix with its provenance) into a new folder, with the layout of the source tree, so that
/// an installed tool can run them (<c>overlaysim run DIR/scenarios/quickstart.yaml</c>).
/// </summary>
public static class ExamplesCommand
{
    /// <summary>Where the build puts them, beside the program.</summary>
    public static string Source => Path.Combine(AppContext.BaseDirectory, "examples");

    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "the folder to create (it must not exist; its parent must)" };
        var command = new Command("examples", "Copy the shipped scenarios, the data they read and their JSON Schema into a new folder DIR (DIR/scenarios, DIR/data, DIR/schema).") { dir };
        command.SetAction(parse =>
        {
            Copy(parse.GetValue(dir)!, Console.Out);
            return ExitCodes.Ok;
        });
        return command;
    }

    public static void Copy(string target, TextWriter o)
    {
        var at = new Origin(target, 0, 0);
        if (!Directory.Exists(Source))
            throw new ScenarioException(at, $"this installation has no shipped scenarios (looked in {Source})");
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target));
        string? parent = Path.GetDirectoryName(full);
        if (parent is null || Path.GetFileName(full).Length == 0) throw new ScenarioException(at, "names no new folder; name one, e.g. my-scenarios");
        // Only a new folder: nothing that exists is replaced or written into (an empty folder, a link, the current folder).
        if (File.Exists(full) || Directory.Exists(full) || new FileInfo(full).LinkTarget is not null)
            throw new ScenarioException(at, "exists; name a new folder (nothing that exists is replaced or written into)");
        if (!Directory.Exists(parent)) throw new ScenarioException(at, $"its parent folder {parent} does not exist");
        // Copied into a staging folder beside the target and renamed: the folder appears whole or not at all.
        string staging = Path.Combine(parent, $".{Path.GetFileName(full)}.examples-{Environment.ProcessId}");
        try
        {
            int files = 0;
            foreach (string file in Directory.EnumerateFiles(Source, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                string to = Path.Combine(staging, Path.GetRelativePath(Source, file));
                Directory.CreateDirectory(Path.GetDirectoryName(to)!);
                File.Copy(file, to);
                files++;
            }
            Directory.Move(staging, full);
            o.WriteLine($"wrote {full}/ ({files} files: scenarios/, scenarios/checks/, data/, schema/); try: overlaysim run {Path.Combine(target, "scenarios", "quickstart.yaml")} --out results/quickstart");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try
            {
                if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
                throw new ScenarioException(at, $"could not be written ({e.Message}), and the partial copy {staging} could not be removed: {cleanup.Message}");
            }
            throw new ScenarioException(at, $"could not be written: {e.Message}");
        }
    }
}
