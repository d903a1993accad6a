namespace OverlaySim.Tests.Support;

/// <summary>The smallest useful run (300 static Chord nodes, 500 lookups, well under a second) for command-line tests.</summary>
public static class SmallScenario
{
    public const string Name = "small";

    public const string Chord = """
        name: small
        nodes: 300
        latency: { model: constant, delay: 10ms }
        workload: { lookups: 500, keys: 100 }
        overlays: [chord]
        """;
}
