using OverlaySim.Core;
using OverlaySim.Overlays;

namespace OverlaySim.Scenarios;

/// <summary>One overlay entry of a scenario, validated.</summary>
/// <param name="Label">Its name in results: the overlay name, or its <c>label</c> when the same overlay appears twice.</param>
/// <param name="Values">The values of the parameters that take effect, defaults included.</param>
/// <param name="Options">The overlay's options record built from them (its type is the overlay's).</param>
public sealed record OverlayConfig(string Label, OverlayInfo Info, ParamValues Values, object Options)
{
    /// <summary>Where the entry is written in the scenario file.</summary>
    public Origin Origin { get; init; }
}

/// <summary>One point of a scenario's sweep, every value resolved (defaults included) and validated.</summary>
public sealed record ScenarioPoint
{
    public required string Name { get; init; }
    public required string Description { get; init; }
    public required long Seed { get; init; }
    public required int Nodes { get; init; }
    public required int IdBits { get; init; }
    public required int Replicates { get; init; }
    public required ModelInfo Latency { get; init; }
    public required ParamValues LatencyValues { get; init; }
    public required RttMatrix? Matrix { get; init; }
    public required WorkloadOptions Workload { get; init; }
    public required IReadOnlyList<OverlayConfig> Overlays { get; init; }
    public required ChurnOptions Churn { get; init; }
    /// <summary>End of every run, µs; 0 = until the workload is done.</summary>
    public required long Duration { get; init; }
    public required long MeasureAfter { get; init; }
    public required long SampleEvery { get; init; }

    /// <summary>The swept parameters' values at this point, by path, in sweep order (canonical text).</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Swept { get; init; }

    /// <summary>Every parameter by path with its canonical value, defaults included: what the manifest records.</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Resolved { get; init; }
}

/// <summary>A loaded scenario: its points (the cartesian product of its sweep, or one point without a sweep).</summary>
public sealed record Scenario(string File, string Name, IReadOnlyList<string> SweptPaths, IReadOnlyList<ScenarioPoint> Points, IReadOnlyList<string> Overrides);
