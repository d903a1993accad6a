using System.Globalization;

namespace OverlaySim.Core;

/// <summary>
/// Durations and rates as scenario files write them, and back.
/// Durations: a number and a unit, <c>us</c>, <c>ms</c>, <c>s</c>, <c>min</c> (or <c>m</c>), <c>h</c>, <c>d</c>;
/// <c>0</c> alone is allowed. Rates: <c>COUNT/DURATION</c> such as <c>100/s</c>, <c>1/10min</c>, <c>6/h</c>.
/// </summary>
public static class Units
{
    private static readonly (string Suffix, long Micros)[] DurationUnits =
    [
        ("us", 1), ("µs", 1), ("ms", 1_000), ("s", 1_000_000), ("min", 60_000_000), ("m", 60_000_000),
        ("h", 3_600_000_000), ("d", 86_400_000_000),
    ];

    /// <summary>Parses a duration into microseconds. Fractions are allowed (<c>1.5s</c>) and rounded to whole µs.</summary>
    public static bool TryParseDuration(string text, out long micros, out string? error)
    {
        micros = 0;
        error = null;
        string t = text.Trim();
        if (t == "0")
            return true;
        int split = 0;
        while (split < t.Length && (char.IsDigit(t[split]) || t[split] == '.' || t[split] == '-' || t[split] == '+' || t[split] == 'e' || t[split] == 'E'))
        {
            // stop at an 'e' that does not start an exponent followed by a digit or sign
            if ((t[split] == 'e' || t[split] == 'E') && !(split + 1 < t.Length && (char.IsDigit(t[split + 1]) || t[split + 1] == '-' || t[split + 1] == '+')))
                break;
            split++;
        }
        string number = t[..split], unit = t[split..].Trim();
        if (number.Length == 0 || !double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
        {
            error = $"'{text}' is not a duration (expected a number with a unit, e.g. 80ms, 30s, 2h)";
            return false;
        }
        if (unit.Length == 0)
        {
            error = $"'{text}' has no unit (expected us, ms, s, min, h or d, e.g. {number}ms)";
            return false;
        }
        foreach (var (suffix, scale) in DurationUnits)
        {
            if (unit != suffix) continue;
            double us = Math.Round(value * scale);
            if (!double.IsFinite(us) || us < long.MinValue / 2.0 || us > long.MaxValue / 2.0)
            {
                error = $"'{text}' is out of range";
                return false;
            }
            if (us == 0 && value != 0)
            {
                error = $"'{text}' is shorter than the clock's resolution of 1us (write 0 for none)";
                return false;
            }
            micros = (long)us;
            return true;
        }
        error = $"'{text}' has an unknown unit '{unit}' (expected us, ms, s, min, h or d)";
        return false;
    }

    /// <summary>Parses a rate into events per second: <c>100/s</c>, <c>1/10min</c>, or a bare number meaning per second.</summary>
    public static bool TryParseRate(string text, out double perSecond, out string? error)
    {
        perSecond = 0;
        error = null;
        string t = text.Trim();
        int slash = t.IndexOf('/');
        string count = slash < 0 ? t : t[..slash];
        if (!double.TryParse(count, NumberStyles.Float, CultureInfo.InvariantCulture, out double n) || !double.IsFinite(n))
        {
            error = $"'{text}' is not a rate (expected COUNT/DURATION, e.g. 100/s, 1/10min, 6/h)";
            return false;
        }
        if (slash < 0)
        {
            perSecond = n;
            return true;
        }
        string per = t[(slash + 1)..].Trim();
        if (per.Length > 0 && char.IsLetter(per[0])) per = "1" + per;
        if (!TryParseDuration(per, out long micros, out _) || micros <= 0)
        {
            error = $"'{text}' is not a rate: '{t[(slash + 1)..]}' is not a positive duration (e.g. 100/s, 1/10min)";
            return false;
        }
        // One rounding instead of two whenever the duration is whole seconds or divides a second: n·1e6/µs
        // rounds twice, so "0.0048026724121408302/s" (as FormatRate writes it) read back one ulp off and a
        // rate copied from a manifest would not reproduce the run.
        perSecond = micros % 1_000_000 == 0 ? n / (micros / 1_000_000)
            : 1_000_000 % micros == 0 ? n * (1_000_000 / micros)
            : n * 1e6 / micros;
        if (!double.IsFinite(perSecond))
        {
            error = $"'{text}' is out of range";
            perSecond = 0;
            return false;
        }
        return true;
    }

    /// <summary>Writes a duration with the largest unit that represents it exactly: 50000 -> "50ms", 90000000 -> "90s".</summary>
    public static string FormatDuration(long micros)
    {
        if (micros == 0) return "0";
        foreach (var (suffix, scale) in new (string, long)[] { ("d", 86_400_000_000), ("h", 3_600_000_000), ("min", 60_000_000), ("s", 1_000_000), ("ms", 1_000) })
            if (micros % scale == 0) return (micros / scale).ToString(CultureInfo.InvariantCulture) + suffix;
        return micros.ToString(CultureInfo.InvariantCulture) + "us";
    }

    /// <summary>Writes a rate per second: 100 -> "100/s", 0.5 -> "0.5/s".</summary>
    public static string FormatRate(double perSecond) => perSecond.ToString("R", CultureInfo.InvariantCulture) + "/s";

    /// <summary>Writes a stored value of the given kind as a scenario file would.</summary>
    public static string Format(ParamKind kind, object value) => kind switch
    {
        ParamKind.Duration => FormatDuration((long)value),
        ParamKind.Rate => FormatRate((double)value),
        ParamKind.Bool => (bool)value ? "true" : "false",
        ParamKind.Real => ((double)value).ToString("R", CultureInfo.InvariantCulture),
        ParamKind.Int => ((long)value).ToString(CultureInfo.InvariantCulture),
        _ => (string)value,
    };
}
