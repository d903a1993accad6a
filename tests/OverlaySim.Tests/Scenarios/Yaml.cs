using OverlaySim.Scenarios;
using Xunit;

namespace OverlaySim.Tests.Scenarios;

/// <summary>Small valid scenarios to start from, and a way to load one and catch its diagnostics.</summary>
internal static class Yaml
{
    /// <summary>A valid world small enough to run in a few milliseconds.</summary>
    public const string Small = """
        name: small
        seed: 7
        nodes: 500
        latency: { model: constant, delay: 10ms }
        workload: { lookups: 1000, keys: 1000 }
        overlays:
          - chord: { successors: 8 }
        """;

    /// <summary>Loads a scenario that must be rejected and returns its diagnostics.</summary>
    public static IReadOnlyList<Diagnostic> Rejected(string path, params string[] sets) =>
        Assert.Throws<ScenarioException>(() => ScenarioLoader.Load(path, sets)).Diagnostics;
}
