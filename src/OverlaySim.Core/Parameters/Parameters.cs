using System.Globalization;

namespace OverlaySim.Core;

/// <summary>The type of a scenario parameter, which fixes how its value is written and stored.</summary>
public enum ParamKind
{
    /// <summary>A whole number; stored as long.</summary>
    Int,
    /// <summary>A real number; stored as double.</summary>
    Real,
    /// <summary>A time with its unit (<c>80ms</c>, <c>30s</c>, <c>2h</c>); stored as long microseconds.</summary>
    Duration,
    /// <summary>Events per time (<c>100/s</c>, <c>1/10min</c>, <c>6/h</c>); stored as double per second.</summary>
    Rate,
    /// <summary>true or false.</summary>
    Bool,
    /// <summary>One of a fixed set of words; stored as string.</summary>
    Choice,
    /// <summary>Free text; stored as string.</summary>
    Text,
    /// <summary>A file path, relative to the scenario file; stored as string.</summary>
    File,
}

/// <summary>
/// One scenario parameter: its name, type, default, valid range and a one-line description. The same
/// specification drives YAML validation, <c>--set</c>, sweeps, <c>overlaysim list</c> and the manifest.
/// </summary>
public sealed record ParamSpec(
    string Name,
    ParamKind Kind,
    object? Default,
    string Description,
    double Min = double.NegativeInfinity,
    double Max = double.PositiveInfinity,
    IReadOnlyList<string>? Choices = null)
{
    /// <summary>A parameter without a default must be given.</summary>
    public bool Required => Default is null;

    /// <summary>Where it takes effect (every condition must hold), or null for always (see <see cref="ParamAttribute.Only"/>).</summary>
    public IReadOnlyList<ParamCondition>? Conditions { get; init; }

    /// <summary>The parameter whose value this one takes when it is not given, or null (see <see cref="ParamAttribute.DefaultFrom"/>).</summary>
    public string? DefaultFrom { get; init; }

    /// <summary>"protocol: dynamic, store_keys: true", or "" when it always takes effect.</summary>
    public string ConditionText => Conditions is null ? "" : string.Join(", ", Conditions);

    public static ParamSpec Int(string name, long def, long min, long max, string description) =>
        new(name, ParamKind.Int, def, description, min, max);

    public static ParamSpec Real(string name, double def, double min, double max, string description) =>
        new(name, ParamKind.Real, def, description, min, max);

    public static ParamSpec Duration(string name, long defMicros, long minMicros, long maxMicros, string description) =>
        new(name, ParamKind.Duration, defMicros, description, minMicros, maxMicros);

    public static ParamSpec Rate(string name, double def, double min, double max, string description) =>
        new(name, ParamKind.Rate, def, description, min, max);

    public static ParamSpec Choice(string name, string def, string description, params string[] choices) =>
        new(name, ParamKind.Choice, def, description, Choices: choices);

    /// <summary>The default written as a scenario file would write it, "(required)", or the parameter it is taken from.</summary>
    public string DefaultText => DefaultFrom is not null ? DefaultFrom : Default is null ? "(required)" : Units.Format(Kind, Default);

    /// <summary>The valid range, written for help text and error messages ("1..64", "≥ 0", "uniform|zipf").</summary>
    public string RangeText
    {
        get
        {
            if (Choices is not null) return string.Join("|", Choices);
            if (Kind == ParamKind.Bool) return "true|false";
            bool lo = !double.IsNegativeInfinity(Min), hi = !double.IsPositiveInfinity(Max);
            string F(double v) => Kind == ParamKind.Duration ? Units.FormatDuration((long)v)
                : Kind == ParamKind.Rate ? Units.FormatRate(v) : v.ToString(CultureInfo.InvariantCulture);
            return (lo, hi) switch
            {
                (true, true) => $"{F(Min)}..{F(Max)}",
                (true, false) => $">= {F(Min)}",
                (false, true) => $"<= {F(Max)}",
                _ => "any",
            };
        }
    }
}

/// <summary>Validated parameter values of one section (an overlay's options, the latency model...).</summary>
public sealed class ParamValues
{
    private readonly Dictionary<string, object> _values = new(StringComparer.Ordinal);

    public void Set(string name, object value) => _values[name] = value;

    public bool Has(string name) => _values.ContainsKey(name);

    public long Int(string name) => (long)_values[name];
    public double Real(string name) => (double)_values[name];
    public long Duration(string name) => (long)_values[name];
    public double Rate(string name) => (double)_values[name];
    public bool Bool(string name) => (bool)_values[name];
    public string Text(string name) => (string)_values[name];

    public object Get(string name) => _values[name];

    public IEnumerable<string> Names => _values.Keys;
}
