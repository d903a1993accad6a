using System.Buffers.Binary;
using System.Globalization;
using System.Xml.Linq;
using OverlaySim.Figures;
using OverlaySim.Output;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary>
/// Figures: what they plot is exactly what the CSV files hold (checked through the plotting model, not by reading
/// pixels), the files are valid PNG and SVG of the requested size, the same results give the same bytes, and plot refuses
/// what is not a result folder.
/// </summary>
[Collection("Console")]
public class FigureTests
{
    private const string Sweep = """
        name: figures
        replicates: 2
        latency: { model: uniform, min: 5ms, max: 50ms }
        workload: { lookups: 400, keys: 500, replication: uniform, replicas: 2 }
        overlays:
          - chord: {}
          - napster: {}
        sweep:
          nodes: [200, 400, 800]
        """;

    private static double D(string s) => double.Parse(s, CultureInfo.InvariantCulture);

    [Fact]
    public void TheSeriesHoldTheValuesOfTheCsvFilesAndTheTheoryCurves()
    {
        using var dir = new TempFolder();
        Assert.Equal(0, Cli.Run("run", dir.Write("s.yaml", Sweep), "--out", dir["out"], "-q").ExitCode);
        IReadOnlyList<Figure> figures = FigureSet.From(dir["out"]);
        List<Dictionary<string, string>> summary = CsvTable.Read(Path.Combine(dir["out"], "summary.csv"));

        Figure hops = figures.Single(f => f.Name == "hops_mean-vs-nodes");
        Assert.True(hops.LogX);
        foreach (string label in new[] { "chord", "napster" })
        {
            Series s = hops.Series.Single(x => x.Label == label && !x.Theory);
            var rows = summary.Where(r => r["overlay"] == label).OrderBy(r => D(r["nodes"])).ToList();
            Assert.Equal(rows.Select(r => D(r["nodes"])), s.X);
            Assert.Equal(rows.Select(r => D(r["hops_mean_mean"])), s.Y);
            Assert.Equal(rows.Select(r => D(r["hops_mean_ci95"])), s.Error!);
        }
        // Theory: Chord's hops are the paper's ½·log2 N plus the last hop to the successor; Napster's one hop.
        Series chordTheory = hops.Series.Single(x => x.Theory && x.Label.StartsWith("chord", StringComparison.Ordinal));
        Assert.Equal("chord: ½·log₂ N + 1", chordTheory.Label);
        Assert.Equal(chordTheory.X.Select(n => 0.5 * Math.Log2(n) + 1), chordTheory.Y);
        Assert.Equal([1.0, 1, 1], hops.Series.Single(x => x.Theory && x.Label.StartsWith("napster", StringComparison.Ordinal)).Y);
        // The same overlay has the same colour in every figure.
        int chordColor = hops.Series.First(x => x.Label == "chord").Color;
        Assert.All(figures.SelectMany(f => f.Series).Where(x => x.Label.StartsWith("chord", StringComparison.Ordinal)), x => Assert.Equal(chordColor, x.Color));

        // The hop distribution at the last point (800 nodes), both replicates pooled, from hops.csv.
        Figure pdf = figures.Single(f => f.Name == "hops-pdf"), cdf = figures.Single(f => f.Name == "hops-cdf");
        var counts = CsvTable.Read(Path.Combine(dir["out"], "hops.csv")).Where(r => r["overlay"] == "chord" && r["nodes"] == "800")
            .GroupBy(r => int.Parse(r["hops"], CultureInfo.InvariantCulture)).OrderBy(g => g.Key)
            .Select(g => (Hops: g.Key, Count: g.Sum(r => long.Parse(r["count"], CultureInfo.InvariantCulture)))).ToList();
        double total = counts.Sum(c => c.Count);
        Series p = pdf.Series.Single(x => x.Label == "chord");
        Assert.Equal(counts.Select(c => (double)c.Hops), p.X);
        Assert.Equal(counts.Select(c => c.Count / total), p.Y);
        Assert.Equal(1.0, cdf.Series.Single(x => x.Label == "chord").Y[^1], 12);
    }

    [Fact]
    public void RunWritesValidPngAndSvgOfTheRequestedSizeAndPlotRedrawsThemByteForByte()
    {
        using var dir = new TempFolder();
        Assert.Equal(0, Cli.Run("run", dir.Write("s.yaml", Sweep), "--out", dir["out"], "-q").ExitCode);
        string figures = Path.Combine(dir["out"], "figures");
        string[] files = Directory.GetFiles(figures).Order(StringComparer.Ordinal).ToArray();
        Assert.Contains(Path.Combine(figures, "hops_mean-vs-nodes.png"), files);
        Assert.Contains(Path.Combine(figures, "hops_mean-vs-nodes.svg"), files);
        var (w, h) = Renderer.PixelSize(new FigureOptions(["png"]));
        Assert.Equal((1050, 788), (w, h)); // 3.5 in at 300 dpi, 4:3
        foreach (string f in files)
        {
            if (f.EndsWith(".png", StringComparison.Ordinal)) Assert.Equal((w, h), PngSize(f));
            else
            {
                XElement svg = XDocument.Load(f).Root!;
                Assert.Equal("svg", svg.Name.LocalName);
                Assert.Equal(("336", "252"), ((string?)svg.Attribute("width"), (string?)svg.Attribute("height"))); // 3.5 in at 96 px per inch
                Assert.Contains("font-family=\"DejaVu Sans\"", File.ReadAllText(f)); // the shipped font, whatever the machine has
            }
        }
        var before = files.ToDictionary(f => f, File.ReadAllBytes);

        // plot redraws the same figures from the files alone, byte for byte, and the folder stays a result folder.
        CliResult plot = Cli.Run("plot", dir["out"]);
        Assert.True(plot.ExitCode == 0, plot.ToString());
        Assert.Equal(files, Directory.GetFiles(figures).Order(StringComparer.Ordinal).ToArray());
        foreach (string f in files) Assert.True(before[f].AsSpan().SequenceEqual(File.ReadAllBytes(f)), $"{f} differs when drawn again");
        Assert.Null(ResultFolder.NotAResultFolder(dir["out"]));

        // Another size: PNG only, 7.2 in at 150 dpi; the SVGs are gone from figures/ and from the manifest.
        Assert.Equal(0, Cli.Run("plot", dir["out"], "--format", "png", "--dpi", "150", "--width-in", "7.2").ExitCode);
        Assert.All(Directory.GetFiles(figures), f => Assert.Equal((1080, 809), PngSize(f))); // 691 x 518 logical pixels, scaled by 150/96
        Assert.Null(ResultFolder.NotAResultFolder(dir["out"]));
        Assert.DoesNotContain(".svg", File.ReadAllText(Path.Combine(dir["out"], "manifest.json")));
    }

    [Fact]
    public void ForceStillRefusesAFolderWhoseFiguresHoldAFileOfTheUsers()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", Sweep);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["out"], "-q").ExitCode);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["out"], "-q", "--force").ExitCode); // its own figures: replaced
        File.WriteAllText(Path.Combine(dir["out"], "figures", "edited.svg"), "<svg/>");
        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "-q", "--force");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("'figures/edited.svg', which OverlaySim did not write", Assert.Single(r.Errors));
        Assert.True(File.Exists(Path.Combine(dir["out"], "figures", "edited.svg")));
    }

    [Fact]
    public void ASweepOfANonNumericParameterIsDrawnByCategoryWithAPanelPerOtherValue()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", """
            name: categories
            nodes: 300
            latency: { model: constant, delay: 5ms }
            workload: { lookups: 200, keys: 100, popularity: uniform, zipf_exponent: 1.0, replication: uniform, replica_budget: 300 }
            overlays:
              - gnutella: { ttl: 3 }
            sweep:
              workload.popularity: [uniform, zipf]
              workload.replication: [uniform, proportional, square_root]
            """);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["out"], "-q", "--no-figures").ExitCode);
        IReadOnlyList<Figure> figures = FigureSet.From(dir["out"]);
        Figure f = figures.Single(x => x.Name == "msgs_per_lookup-vs-replication@popularity=zipf");
        Assert.Equal(["uniform", "proportional", "square_root"], f.XCategories!);
        var rows = CsvTable.Read(Path.Combine(dir["out"], "summary.csv")).Where(r => r["workload.popularity"] == "zipf").ToList();
        Series s = Assert.Single(f.Series);
        Assert.Equal([0.0, 1, 2], s.X);
        Assert.Equal(new[] { "uniform", "proportional", "square_root" }.Select(c => D(rows.Single(r => r["workload.replication"] == c)["msgs_per_lookup_mean"])), s.Y);
        Assert.Null(s.Error); // one replicate: no interval
        Assert.Contains(figures, x => x.Name == "msgs_per_lookup-vs-popularity@replication=square_root");
    }

    [Fact]
    public void TheScenarioNamesItsOwnFiguresWhichPlotDrawsAgainFromTheFolderAlone()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", Sweep + "\n" + """
            plots:
              - { name: paper-hops, x: nodes, y: paper_hops_mean, overlay: chord, log_x: true, theory: "0.5 * log2(nodes)", theory_label: "½·log₂ N", title: "Chord path length", y_label: "hops" }
              - { name: hops_mean-vs-nodes, x: nodes, y: hops_mean, theory: "keys / nodes" }
            """);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["out"], "-q").ExitCode);
        File.Delete(scenario); // plot reads what it needs from the result folder
        Assert.Equal(0, Cli.Run("plot", dir["out"], "--format", "svg").ExitCode);
        IReadOnlyList<Figure> figures = FigureSet.From(dir["out"]);

        Figure own = figures.Single(f => f.Name == "paper-hops");
        Assert.Equal(("Chord path length", "hops", true), (own.Title, own.YLabel, own.LogX));
        Series line = own.Series.Single(x => !x.Theory), theory = own.Series.Single(x => x.Theory);
        Assert.Equal("chord", line.Label); // only the overlay named
        Assert.Equal("chord: ½·log₂ N", theory.Label);
        Assert.Equal(line.X.Select(n => 0.5 * Math.Log2(n)), theory.Y);
        // A name of a standard figure: the scenario's own takes its place, once.
        Figure replaced = figures.Single(f => f.Name == "hops_mean-vs-nodes");
        Assert.Equal(2, replaced.Series.Count(x => x.Theory)); // keys / nodes for both overlays, not the built-in curves
        Assert.All(replaced.Series.Where(x => x.Theory), x => Assert.Equal(x.X.Select(n => 500 / n), x.Y));
        Assert.True(File.Exists(Path.Combine(dir["out"], "figures", "paper-hops.svg")));
    }

    [Theory]
    [InlineData("  - { name: a, x: node, y: hops_mean }", "s.yaml:11:19: plots[1]: key 'x': 'node' is not swept here (did you mean 'nodes'?)")]
    [InlineData("  - { name: a, x: nodes, y: hop_mean }", "s.yaml:11:29: plots[1]: key 'y': 'hop_mean' is not a metric of runs.csv (did you mean 'hops_mean'?)")]
    [InlineData("  - { name: \"../a\", x: nodes, y: hops_mean }", "s.yaml:11:13: plots[1]: key 'name': '../a' cannot name a figure file")]
    [InlineData("  - { name: a, x: nodes, y: hops_mean, theory: \"log2(n)\" }", "s.yaml:11:48: plots[1]: key 'theory': unknown parameter 'n' in 'log2(n)'")]
    [InlineData("  - { name: a, x: nodes, y: paper_hops_mean, overlay: napster }", "s.yaml:11:29: plots[1]: key 'y': overlay 'napster' does not report 'paper_hops_mean'")]
    [InlineData("  - { name: a, x: nodes, y: hops_mean, log_x: yes }", "s.yaml:11:47: plots[1]: key 'log_x': expected true or false")]
    public void ABadFigureIsReportedAtItsPlace(string entry, string message)
    {
        using var dir = new TempFolder();
        string file = dir.Write("s.yaml", Sweep + "\nplots:\n" + entry + "\n"); // the entry is line 11
        CliResult r = Cli.Run("validate", file);
        Assert.Equal(2, r.ExitCode);
        Expect.StartsWith(dir.Path + "/" + message, Assert.Single(r.Errors));
    }

    [Fact]
    public void CostAgainstPerformanceHasOnePointPerSettingAndOverlay()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", """
            name: cost
            nodes: 150
            duration: 4min
            measure_after: 1min
            latency: { model: constant, delay: 10ms }
            churn: { model: lifetime, session_mean: 5min, downtime_mean: 5min }
            workload: { per_node_rate: 1/20s, duration: 4min, keys: 100 }
            overlays:
              - chord: { protocol: dynamic }
            sweep:
              overlays.chord.stabilize_every: [5s, 20s, 60s]
            """);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["out"], "-q", "--no-figures").ExitCode);
        var rows = CsvTable.Read(Path.Combine(dir["out"], "summary.csv"));
        Figure latency = FigureSet.From(dir["out"]).Single(f => f.Name == "cost-vs-latency");
        Figure failure = FigureSet.From(dir["out"]).Single(f => f.Name == "cost-vs-failure");
        Series l = Assert.Single(latency.Series), fl = Assert.Single(failure.Series);
        Assert.True(l.PointsOnly);
        Assert.Equal(rows.Select(r => D(r["maint_bytes_per_node_s_mean"])), l.X);
        Assert.Equal(rows.Select(r => D(r["latency_mean_ms_mean"])), l.Y);
        Assert.Equal(rows.Select(r => 1 - D(r["success_rate_mean"])), fl.Y);
    }

    [Fact]
    public void ASweptRateGivesFigureFilesOfPlainNamesThatPlotAndForceStillAccept()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", """
            name: rates
            latency: { model: constant, delay: 5ms }
            workload: { lookups: 100, rate: 10/s, keys: 100 }
            overlays:
              - chord: {}
            sweep:
              nodes: [64, 128]
              workload.rate: [10/s, 20/s]
            """);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["out"], "-q").ExitCode);
        string figures = Path.Combine(dir["out"], "figures");
        Assert.Empty(Directory.GetDirectories(figures));
        Assert.Contains(Path.Combine(figures, "hops_mean-vs-nodes@rate=10_s.png"), Directory.GetFiles(figures));
        Assert.Equal(0, Cli.Run("plot", dir["out"]).ExitCode);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["out"], "-q", "--force").ExitCode);
        Assert.DoesNotContain(dir.Entries(), e => e.StartsWith('.')); // nothing left beside it either
    }

    [Fact]
    public void AManifestListingAFigureOfAnUnsafeNameIsRefused()
    {
        using var dir = new TempFolder();
        Assert.Equal(0, Cli.Run("run", dir.Write("s.yaml", Sweep), "--out", dir["out"], "-q", "--no-figures").ExitCode);
        string manifest = Path.Combine(dir["out"], "manifest.json");
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("\"plots\": []", "\"plots\": [{ \"name\": \"../../escaped\", \"x\": \"nodes\", \"y\": \"hops_mean\" }]"));
        CliResult r = Cli.Run("plot", dir["out"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("lists a figure without a valid name", Assert.Single(r.Errors));
        Assert.False(File.Exists(Path.Combine(dir.Path, "escaped.png")));
    }

    [Fact]
    public void NoFiguresWritesNoFiguresFolder()
    {
        using var dir = new TempFolder();
        Assert.Equal(0, Cli.Run("run", dir.Write("s.yaml", Sweep), "--out", dir["out"], "-q", "--no-figures").ExitCode);
        Assert.False(Directory.Exists(Path.Combine(dir["out"], "figures")));
    }

    [Fact]
    public void PlotRefusesWhatIsNotAResultFolderAndFormatsItCannotWrite()
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir["other"]);
        File.WriteAllText(Path.Combine(dir["other"], "notes.txt"), "mine");
        CliResult other = Cli.Run("plot", dir["other"]);
        Assert.Equal(2, other.ExitCode);
        Expect.StartsWith($"{dir["other"]}: is not a result folder: it has no manifest.json", Assert.Single(other.Errors));
        Assert.Equal(["notes.txt"], Directory.GetFiles(dir["other"]).Select(f => Path.GetFileName(f)).ToArray()); // untouched

        CliResult missing = Cli.Run("plot", dir["nowhere"]);
        Assert.Equal(2, missing.ExitCode);

        Assert.Equal(0, Cli.Run("run", dir.Write("s.yaml", Sweep), "--out", dir["out"], "-q", "--no-figures").ExitCode);
        CliResult pdf = Cli.Run("plot", dir["out"], "--format", "pdf");
        Assert.Equal(2, pdf.ExitCode);
        Expect.StartsWith("--format pdf: pdf is not available", Assert.Single(pdf.Errors));
        Assert.Equal(2, Cli.Run("plot", dir["out"], "--dpi", "5").ExitCode);

        File.Delete(Path.Combine(dir["out"], "summary.csv"));
        CliResult lacking = Cli.Run("plot", dir["out"]);
        Assert.Equal(2, lacking.ExitCode);
        Expect.StartsWith($"{dir["out"]}: is not a result folder of this version: it has no summary.csv", Assert.Single(lacking.Errors));
        Assert.False(Directory.Exists(Path.Combine(dir["out"], "figures")));
    }

    private static (int Width, int Height) PngSize(string path)
    {
        byte[] head = File.ReadAllBytes(path)[..24];
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10], head[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(head, 12, 4));
        return (BinaryPrimitives.ReadInt32BigEndian(head.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(head.AsSpan(20)));
    }
}
