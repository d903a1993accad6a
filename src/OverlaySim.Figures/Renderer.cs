using ScottPlot;

namespace OverlaySim.Figures;

/// <summary>How figures are drawn: formats, resolution and size (a column width of 3.5 in by default).</summary>
public sealed record FigureOptions(IReadOnlyList<string> Formats, int Dpi = 300, double WidthInches = 3.5)
{
    public static readonly string[] KnownFormats = ["png", "svg"];

    /// <summary>Height over width.</summary>
    public const double Aspect = 0.75;
}

/// <summary>
/// Draws <see cref="Figure"/>s with ScottPlot, headless: DejaVu Sans (shipped beside the program) for all text, one colour and
/// marker per overlay across every figure, error bars for 95% intervals, theory curves dashed. The size is set in inches at
/// 96 logical pixels per inch and scaled to the resolution (300 dpi: a scale factor of 3.125), so fonts keep their size in
/// print; SVG is vector text at the logical size. The same figure gives the same bytes.
/// </summary>
public static partial class Renderer
{
    public const string FontName = "DejaVu Sans";

    // Colour-blind-safe (Okabe and Ito), then markers, both indexed by the overlay's place in the result folder.
    private static readonly string[] Palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];
    private static readonly MarkerShape[] Markers = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond, MarkerShape.OpenCircle, MarkerShape.OpenSquare, MarkerShape.OpenTriangleUp, MarkerShape.OpenDiamond];

    private static readonly object FontLock = new();
    private static bool _fontLoaded;

    /// <summary>Registers the shipped font once (ScottPlot draws no text at all on a machine without fonts).</summary>
    private static void LoadFont()
    {
        lock (FontLock)
        {
            if (_fontLoaded) return;
            string path = Path.Combine(AppContext.BaseDirectory, "fonts", "DejaVuSans.ttf");
            if (!File.Exists(path)) throw new FileNotFoundException($"the figures' font is missing: {path} (it ships with OverlaySim)");
            Fonts.AddFontFile(FontName, path, bold: false, italic: false);
            _fontLoaded = true;
        }
    }

    /// <summary>Writes every figure in every format into <paramref name="folder"/>; returns the files written.</summary>
    public static IReadOnlyList<string> WriteAll(IReadOnlyList<Figure> figures, string folder, FigureOptions options)
    {
        Directory.CreateDirectory(folder);
        var files = new List<string>();
        foreach (Figure f in figures)
            foreach (string format in options.Formats)
            {
                if (f.Name != FigureSet.SafeName(f.Name) || f.Name.StartsWith('.')) throw new ArgumentException($"'{f.Name}' cannot name a figure file");
                string path = Path.Combine(folder, $"{f.Name}.{format}");
                Save(f, path, format, options);
                files.Add(path);
            }
        return files;
    }

    /// <summary>The pixel size of a figure at these options (the PNG's; an SVG has the logical size).</summary>
    public static (int Width, int Height) PixelSize(FigureOptions o)
    {
        var (w, h) = LogicalSize(o);
        double scale = o.Dpi / 96.0;
        return ((int)Math.Round(w * scale), (int)Math.Round(h * scale));
    }

    private static (int Width, int Height) LogicalSize(FigureOptions o) =>
        ((int)Math.Round(o.WidthInches * 96), (int)Math.Round(o.WidthInches * 96 * FigureOptions.Aspect));

    public static void Save(Figure figure, string path, string format, FigureOptions options)
    {
        if (figure.Series.SelectMany(s => s.X.Concat(s.Y).Concat(s.Error ?? [])).Any(v => !double.IsFinite(v) || Math.Abs(v) > 1e100))
            throw new OverlaySim.Scenarios.ScenarioException(OverlaySim.Scenarios.Origin.FromCommandLine(path), $"figure '{figure.Name}' has values that cannot be drawn (not finite, or beyond 1e100)");
        Plot plot = Build(figure);
        var (w, h) = LogicalSize(options);
        if (format == "svg")
        {
            plot.ScaleFactor = 1;
            plot.SaveSvg(path, w, h);
            File.WriteAllText(path, RenumberClipPaths(File.ReadAllText(path)), new System.Text.UTF8Encoding(false));
        }
        else
        {
            plot.ScaleFactor = options.Dpi / 96.0;
            var (pw, ph) = PixelSize(options);
            plot.SavePng(path, pw, ph);
        }
    }

    /// <summary>
    /// Skia names an SVG's clip paths from a counter of the whole process (cl_3b, cl_3c, ...), so the same figure drawn
    /// twice in one process differs in those names alone; they are renumbered in order of first use (cl_1, cl_2, ...),
    /// which makes the file a function of the figure.
    /// </summary>
    public static string RenumberClipPaths(string svg)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        return ClipName().Replace(svg, m =>
        {
            if (!names.TryGetValue(m.Value, out string? name)) names[m.Value] = name = "cl_" + (names.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return name;
        });
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\bcl_[0-9a-f]+\b")]
    private static partial System.Text.RegularExpressions.Regex ClipName();

    private static Plot Build(Figure f)
    {
        LoadFont();
        var plot = new Plot();
        plot.Font.Set(FontName);
        plot.Title(f.Title, size: 9);
        plot.Axes.Bottom.Label.Text = f.XLabel;
        plot.Axes.Left.Label.Text = f.YLabel;
        plot.Axes.Bottom.Label.FontSize = 8;
        plot.Axes.Left.Label.FontSize = 8;
        plot.Axes.Bottom.TickLabelStyle.FontSize = 7;
        plot.Axes.Left.TickLabelStyle.FontSize = 7;
        foreach (Series s in f.Series)
        {
            double[] xs = f.LogX ? s.X.Select(Math.Log10).ToArray() : s.X;
            Color color = Color.FromHex(Palette[s.Color % Palette.Length]);
            var line = plot.Add.Scatter(xs, s.Y, color);
            line.LegendText = s.Label;
            line.LineWidth = s.Theory ? 1 : 1.5f;
            if (s.Theory)
            {
                line.LinePattern = LinePattern.Dashed;
                line.MarkerSize = 0;
            }
            else
            {
                line.MarkerShape = Markers[s.Color % Markers.Length];
                line.MarkerSize = 5;
                if (s.PointsOnly) line.LineWidth = 0;
            }
            if (s.Error is not null)
            {
                var bars = plot.Add.ErrorBar(xs, s.Y, s.Error);
                bars.Color = color;
            }
        }
        if (f.XCategories is { } categories)
        {
            var ticks = new ScottPlot.TickGenerators.NumericManual();
            for (int i = 0; i < categories.Count; i++) ticks.AddMajor(i, categories[i]);
            plot.Axes.Bottom.TickGenerator = ticks;
            plot.Axes.SetLimitsX(-0.5, categories.Count - 0.5);
        }
        if (f.LogX)
        {
            var ticks = new ScottPlot.TickGenerators.NumericAutomatic
            {
                MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
                IntegerTicksOnly = true,
                LabelFormatter = v => Math.Pow(10, v).ToString("#,0", System.Globalization.CultureInfo.InvariantCulture),
            };
            plot.Axes.Bottom.TickGenerator = ticks;
        }
        plot.Legend.FontSize = 7;
        plot.Legend.ShadowOffset = new PixelOffset(0, 0);
        // A few lines: the legend inside; more: beside the plot, so that it hides no data.
        if (f.Series.Count <= 4) plot.ShowLegend(Alignment.UpperLeft);
        else plot.ShowLegend(Edge.Right);
        return plot;
    }
}
