namespace OverlaySim.Scenarios;

/// <summary>Where a value came from: a position in a file, or a command-line override.</summary>
public readonly record struct Origin(string File, int Line, int Column, string? CommandLine = null)
{
    public static Origin FromCommandLine(string argument) => new("", 0, 0, argument);

    /// <summary><c>FILE:LINE:COL</c>, or <c>--set path=value</c> for an override.</summary>
    public override string ToString() => CommandLine ?? (Line > 0 ? $"{File}:{Line}:{Column}" : File);
}

/// <summary>One problem found in a scenario, with where it is.</summary>
public sealed record Diagnostic(Origin Origin, string Message)
{
    public override string ToString() => $"{Origin}: {Message}";
}

/// <summary>A scenario that cannot be run as written (exit code 2). Carries every problem found, in file order.</summary>
public sealed class ScenarioException : Exception
{
    public ScenarioException(IReadOnlyList<Diagnostic> diagnostics)
        : base(string.Join(Environment.NewLine, diagnostics))
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
        Suggest(name, candidates) is { } s ? $" (did you mean '{s}'?)" : "";
}
