using System.Globalization;
using System.Reflection;
using System.Text;

namespace OverlaySim.Core;

/// <summary>How a parameter's number is written: a plain number, a time with its unit, or a rate.</summary>
public enum ParamUnit : byte
{
    None,
    /// <summary>A duration (<c>80ms</c>, <c>30s</c>); the property holds µs in a long.</summary>
    Time,
    /// <summary>Events per time (<c>100/s</c>); the property holds a double per second.</summary>
    Rate,
}

/// <summary>
/// Marks a property of an overlay's options record as a scenario parameter: the record is the schema. The name is the
/// property's in snake_case, the default is the property's initial value, the type follows the property's (int and long
/// whole numbers, double real, bool, an enum a choice of its members in snake_case, string text).
/// </summary>
/// <param name="description">One line for <c>overlaysim list</c>, with the paper's symbol where it has one.</param>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ParamAttribute(string description) : Attribute
{
    public string Description { get; } = description;

    /// <summary>Smallest valid value (µs for a time).</summary>
    public double Min { get; init; } = double.NegativeInfinity;

    /// <summary>Largest valid value (µs for a time).</summary>
    public double Max { get; init; } = double.PositiveInfinity;

    public ParamUnit Unit { get; init; }

    /// <summary>
    /// Another parameter of the record whose value this one takes when it is not given (Chord's replicas: the successor
    /// list's length). The record's initial value is then only the default of code that builds the record directly.
    /// </summary>
    public string? DefaultFrom { get; init; }

    /// <summary>
    /// Where the parameter takes effect: <c>"protocol=dynamic"</c>, or several conditions that must all hold, separated by
    /// commas (<c>"protocol=dynamic,store_keys=true"</c>). Setting it where it cannot take effect is an error.
    /// </summary>
    public string? Only { get; init; }
}

/// <summary>One condition of a parameter's <see cref="ParamAttribute.Only"/>: another parameter of the same record and the value it must have.</summary>
public readonly record struct ParamCondition(string Name, string Value)
{
    public override string ToString() => $"{Name}: {Value}";
}

/// <summary>Where an overlay entry runs: what its options are checked against beyond their own ranges.</summary>
public readonly record struct OptionsContext(long Nodes, int IdBits);

/// <summary>An overlay's options that check relations between parameters (a replica count against the list that holds the copies).</summary>
public interface IOptionsCheck
{
    /// <summary>Every problem, as (parameter name, message): each is reported at that parameter's place in the file.</summary>
    IEnumerable<(string Param, string Problem)> Check(OptionsContext context);
}

/// <summary>
/// The schema of an options record (see <see cref="ParamAttribute"/>): its parameters with defaults, ranges and
/// conditions, and the binding of validated values back to a record. One source for validation, <c>--set</c>, sweeps,
/// <c>overlaysim list</c> and the manifest.
/// </summary>
public sealed class OptionsSchema
{
    private readonly Type _type;
    private readonly (ParamSpec Spec, PropertyInfo Property)[] _fields;

    private OptionsSchema(Type type)
    {
        _type = type;
        object defaults = Activator.CreateInstance(type)
            ?? throw new InvalidOperationException($"{type.Name} needs a parameterless constructor to give its defaults");
        var fields = new List<(ParamSpec, PropertyInfo)>();
        foreach (PropertyInfo p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.MetadataToken))
        {
            ParamAttribute? a = p.GetCustomAttribute<ParamAttribute>();
            if (a is null) continue;
            fields.Add((SpecOf(p, a, p.GetValue(defaults)), p));
        }
        _fields = [.. fields];
        foreach (var (spec, _) in _fields)
        {
            foreach (ParamCondition c in spec.Conditions ?? [])
                if (!_fields.Any(f => f.Spec.Name == c.Name))
                    throw new InvalidOperationException($"{type.Name}.{spec.Name}: condition on unknown parameter '{c.Name}'");
            if (spec.DefaultFrom is { } from && !_fields.Any(f => f.Spec.Name == from && f.Spec.Kind == spec.Kind))
                throw new InvalidOperationException($"{type.Name}.{spec.Name}: default from unknown parameter '{from}' (or one of another kind)");
        }
    }

    private static readonly Dictionary<Type, OptionsSchema> Cache = [];

    /// <summary>The schema of options record <typeparamref name="T"/> (built once).</summary>
    public static OptionsSchema For<T>() where T : class, new() => For(typeof(T));

    public static OptionsSchema For(Type type)
    {
        lock (Cache)
        {
            if (!Cache.TryGetValue(type, out OptionsSchema? schema)) Cache[type] = schema = new OptionsSchema(type);
            return schema;
        }
    }

    public IReadOnlyList<ParamSpec> Parameters => _fields.Select(f => f.Spec).ToArray();

    /// <summary>An options record from validated values; parameters not in <paramref name="values"/> keep their defaults.</summary>
    public object Create(ParamValues values)
    {
        object options = Activator.CreateInstance(_type)!;
        foreach (var (spec, property) in _fields)
            if (values.Has(spec.Name)) property.SetValue(options, FromValue(property.PropertyType, values.Get(spec.Name)));
        return options;
    }

    /// <summary>"StabilizeEvery" → "stabilize_every"; "K" → "k".</summary>
    public static string SnakeCase(string name)
    {
        var b = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c) && i > 0) b.Append('_');
            b.Append(char.ToLowerInvariant(c));
        }
        return b.ToString();
    }

    private static ParamSpec SpecOf(PropertyInfo p, ParamAttribute a, object? def)
    {
        string name = SnakeCase(p.Name);
        Type t = p.PropertyType;
        IReadOnlyList<ParamCondition>? only = a.Only is null ? null : a.Only.Split(',').Select(Condition).ToArray();
        ParamSpec spec;
        if (t.IsEnum)
        {
            string[] choices = Enum.GetNames(t).Select(SnakeCase).ToArray();
            spec = new ParamSpec(name, ParamKind.Choice, SnakeCase(def!.ToString()!), a.Description, Choices: choices);
        }
        else if (t == typeof(bool)) spec = new ParamSpec(name, ParamKind.Bool, def, a.Description);
        else if (t == typeof(string)) spec = new ParamSpec(name, ParamKind.Text, def, a.Description);
        else if (t == typeof(int) || t == typeof(long))
        {
            ParamKind kind = a.Unit == ParamUnit.Time ? ParamKind.Duration : ParamKind.Int;
            // The range can never be wider than the property holds, so that every accepted value converts.
            double lo = t == typeof(int) ? int.MinValue : long.MinValue, hi = t == typeof(int) ? int.MaxValue : long.MaxValue;
            spec = new ParamSpec(name, kind, Convert.ToInt64(def, CultureInfo.InvariantCulture), a.Description, Math.Max(a.Min, lo), Math.Min(a.Max, hi));
        }
        else if (t == typeof(double))
        {
            ParamKind kind = a.Unit == ParamUnit.Rate ? ParamKind.Rate : ParamKind.Real;
            spec = new ParamSpec(name, kind, (double)def!, a.Description, a.Min, a.Max);
        }
        else throw new InvalidOperationException($"{p.DeclaringType!.Name}.{p.Name}: a parameter cannot have type {t.Name}");
        return spec with { Conditions = only, DefaultFrom = a.DefaultFrom };

        static ParamCondition Condition(string text)
        {
            int eq = text.IndexOf('=');
            return new ParamCondition(text[..eq].Trim(), text[(eq + 1)..].Trim());
        }
    }

    private static object FromValue(Type t, object value)
    {
        if (t.IsEnum)
        {
            string text = (string)value;
            foreach (string name in Enum.GetNames(t))
                if (SnakeCase(name) == text) return Enum.Parse(t, name);
            throw new ArgumentException($"'{text}' is not a {t.Name}");
        }
        if (t == typeof(int)) return checked((int)(long)value);
        return value;
    }
}
