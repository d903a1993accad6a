namespace OverlaySim.Scenarios;

/// <summary>Where a value came from: a position in a file, or a command-line override.</summary>
public readonly record struct Origin(string File, int Line, int Column, string? CommandLine = null)
{
    public static Origin FromCommandLine(string argument) => new("", 0, 0, argument);

    /// <summary><c>FILE:LINE:COL</c>, or <c>--set path=value</c> for an override.</summary>
    public override string ToString() => CommandLine ?? (Line > 0 ? $"{File}:{Line}:{Column}" : File);
}

/// <summary>One problem found in a scenario, with where it is.</summary>
/// <remarks>
/// Messages quote the input they refuse, and the input may be a megabyte on one line or hold control
/// characters: the message is kept to <see cref="MaxMessage"/> characters, with control characters written as
/// escapes, so that an error never floods the terminal or rewrites it.
/// </remarks>
public sealed record Diagnostic(Origin Origin, string Message)
{
    public const int MaxMessage = 400;

    /// <summary>The most problems one error report lists; the rest are counted.</summary>
    public const int MaxReported = 40;

    public string Message { get; } = Clip(Message, MaxMessage);

    public Origin Origin { get; } = Origin with { File = Clip(Origin.File, 200), CommandLine = Origin.CommandLine is null ? null : Clip(Origin.CommandLine, 120) };

    public override string ToString() => $"{Origin}: {Message}";

    /// <summary>
    /// Text safe to print: control characters as <c>\uXXXX</c> escapes (tab and newline as <c>\t</c>, <c>\n</c>), and
    /// longer text cut to <paramref name="max"/> characters with an ellipsis.
    /// </summary>
    public static string Clip(string text, int max = 60)
    {
        bool clean = text.Length <= max;
        foreach (char c in text)
            if (char.IsControl(c)) { clean = false; break; }
        if (clean) return text;
        var sb = new System.Text.StringBuilder(Math.Min(text.Length, max) + 8);
        foreach (char c in text)
        {
            if (sb.Length >= max)
            {
                sb.Append('…');
                break;
            }
            if (c == '\n') sb.Append("\\n");
            else if (c == '\t') sb.Append("\\t");
            else if (char.IsControl(c)) sb.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            else sb.Append(c);
        }
        return sb.ToString();
    }
}

/// <summary>A scenario that cannot be run as written (exit code 2). Carries every problem found, in file order.</summary>
public sealed class ScenarioException : Exception
{
    public ScenarioException(IReadOnlyList<Diagnostic> diagnostics)
        : base(string.Join(Environment.NewLine, diagnostics.Take(Diagnostic.MaxReported)))
    {
        Diagnostics = diagnostics;
    }

    public ScenarioException(Origin origin, string message) : this([new Diagnostic(origin, message)]) { }

    public IReadOnlyList<Diagnostic> Diagnostics { get; }
}

/// <summary>A valid scenario that cannot be carried out here, e.g. it would not fit in memory (exit code 3).</summary>
public sealed class RunFailedException(string message) : Exception(message);

/// <summary>Suggestions for misspelled names.</summary>
public static class Spelling
{
    /// <summary>The closest candidate within a small edit distance, or null.</summary>
    public static string? Suggest(string name, IEnumerable<string> candidates)
    {
        if (name.Length > 64) return null; // no key of ours is that long, and the distance is quadratic
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string c in candidates)
        {
            int d = Distance(name, c);
            if (d < bestDistance)
            {
                bestDistance = d;
                best = c;
            }
        }
        int allowed = Math.Max(2, name.Length / 3);
        return bestDistance <= allowed ? best : null;
    }

    /// <summary>Optimal-string-alignment distance (Levenshtein with adjacent transpositions).</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }

    /// <summary>" (did you mean 'x'?)" or "".</summary>
    public static string Hint(string name, IEnumerable<string> candidates) =>
        Suggest(name, candidates.Where(c => c != name)) is { } s ? $" (did you mean '{s}'?)" : "";
}
