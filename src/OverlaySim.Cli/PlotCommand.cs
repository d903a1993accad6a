using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using OverlaySim.Figures;
using OverlaySim.Output;
using OverlaySim.Scenarios;

namespace OverlaySim.Cli;

/// <summary>
/// <c>overlaysim plot</c>: (re)draws the figures of an existing result folder from its files, without rerunning. The
/// folder's figures/ is replaced as a whole (drawn beside it, then swapped in) and the manifest's file list updated, so the
/// folder stays a result folder that <c>run --force</c> may replace.
/// </summary>
public static class PlotCommand
{
    public static Command Create()
    {
        var folder = new Argument<string>("results") { Description = "a result folder written by 'overlaysim run'" };
        var format = new Option<string>("--format") { Description = "comma-separated formats: png, svg", DefaultValueFactory = _ => "png,svg" };
        var dpi = new Option<int>("--dpi") { Description = "resolution of PNG figures (72 to 1200)", DefaultValueFactory = _ => 300 };
        var width = new Option<double>("--width-in") { Description = "figure width in inches (3.5: one column; 7.2: the full width of a two-column page)", DefaultValueFactory = _ => 3.5 };
        var command = new Command("plot", "Draw the figures of a result folder again (into its figures/), e.g. at another size or resolution. " + ExitCodes.Help)
        {
            folder, format, dpi, width,
        };
        command.SetAction(parse => Execute(parse.GetValue(folder)!, parse.GetValue(format)!, parse.GetValue(dpi), parse.GetValue(width)));
        return command;
    }

    public static int Execute(string folder, string formats, int dpi, double widthInches)
    {
        var clock = Stopwatch.StartNew();
        string[] chosen = formats.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (string f in chosen)
            if (!FigureOptions.KnownFormats.Contains(f))
                throw new ScenarioException(Origin.FromCommandLine($"--format {formats}"), f == "pdf"
                    ? "pdf is not available (ScottPlot 5.1.59 has no PDF export): use svg, vector output that converts to PDF without loss"
                    : $"unknown format '{Diagnostic.Clip(f)}' (expected png, svg or both, comma-separated)");
        if (chosen.Length == 0) throw new ScenarioException(Origin.FromCommandLine($"--format {formats}"), "expected at least one format: png, svg");
        if (dpi is < 72 or > 1200) throw new ScenarioException(Origin.FromCommandLine($"--dpi {dpi}"), "expected a resolution from 72 to 1200");
        if (!(widthInches >= 1 && widthInches <= 20))
            throw new ScenarioException(Origin.FromCommandLine($"--width-in {widthInches.ToString(CultureInfo.InvariantCulture)}"), "expected a width from 1 to 20 inches");

        IReadOnlyList<Figure> figures = FigureSet.From(folder);
        var options = new FigureOptions(chosen.Distinct().ToArray(), dpi, widthInches);
        string full = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar);
        string target = Path.Combine(full, ResultFolder.FiguresFolder);
        // Drawn beside the result folder, not in it: a plot killed half way leaves hidden debris in the parent, never a
        // file in the result folder that would stop a later 'run --force' or 'plot'.
        string parent = Path.GetDirectoryName(full)!, name = Path.GetFileName(full);
        string staging = Path.Combine(parent, $".{name}.figures.partial-{Environment.ProcessId}");
        string old = Path.Combine(parent, $".{name}.figures.old-{Environment.ProcessId}");
        using var interrupt = new Interrupt();
        try
        {
            var files = new List<string>();
            foreach (Figure f in figures)
            {
                if (interrupt.Signal is not null) return interrupt.Report();
                files.AddRange(Renderer.WriteAll([f], staging, options));
            }
            if (interrupt.Signal is not null) return interrupt.Report();
            interrupt.Hold();
            // The new figures replace the old ones, and the manifest lists the new ones: both written beside, then renamed.
            string manifest = Path.Combine(full, "manifest.json");
            JsonNode root = JsonNode.Parse(File.ReadAllText(manifest))!;
            var listed = root["files"]!.AsArray().Select(n => n!.GetValue<string>()).Where(n => !n.StartsWith(ResultFolder.FiguresFolder + "/", StringComparison.Ordinal)).ToList();
            listed.AddRange(files.Select(p => $"{ResultFolder.FiguresFolder}/{Path.GetFileName(p)}"));
            root["files"] = new JsonArray(listed.Select(n => (JsonNode)JsonValue.Create(n)!).ToArray());
            string manifestTemp = Path.Combine(parent, $".{name}.manifest.partial-{Environment.ProcessId}");
            File.WriteAllText(manifestTemp, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
            if (Directory.Exists(target)) Directory.Move(target, old);
            Directory.Move(staging, target);
            File.Move(manifestTemp, manifest, overwrite: true);
            if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
            var (w, h) = Renderer.PixelSize(options);
            string size = options.Formats.Contains("png") ? $"PNG {w} x {h} pixels at {dpi} dpi, " : "";
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {figures.Count} figure(s) as {string.Join(" and ", options.Formats)} into {target}/ ({size}{widthInches:0.##} in wide) in {clock.Elapsed.TotalSeconds:0.0} s"));
            return ExitCodes.Ok;
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            string leftover = Path.Combine(parent, $".{name}.manifest.partial-{Environment.ProcessId}");
            if (File.Exists(leftover)) File.Delete(leftover);
            if (Directory.Exists(old) && !Directory.Exists(target)) Directory.Move(old, target); // cut short between the renames
        }
    }
}
