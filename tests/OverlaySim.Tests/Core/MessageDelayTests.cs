using OverlaySim.Core;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Churn;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Core;

/// <summary>Per-message delays (latency model <c>exponential</c>, and <c>jitter</c> on any model).</summary>
public class MessageDelayTests
{
    [Fact]
    public void ExponentialDelaysHaveTheirMeanAndDistribution()
    {
        var model = new JitteredLatency(new ConstantLatency(0), 50_000, new Xoshiro256(7));
        Assert.True(model.PerMessage);
        Assert.Equal(50_000, model.OneWay(3, 9)); // what timeouts go by: the expected delay
        var delays = new double[20_000];
        for (int i = 0; i < delays.Length; i++) delays[i] = model.MessageDelay(i % 97, i % 89);
        // Kolmogorov–Smirnov against Exp(mean 50 ms), at the 0.1% level (the draws are whole microseconds, floor of the
        // continuous draw: a shift of under 1 µs in 50,000, far below what the test can see).
        double d = GoodnessOfFit.KolmogorovSmirnov(delays, x => 1 - Math.Exp(-x / 50_000.0));
        Assert.True(d < GoodnessOfFit.KsCritical(delays.Length, 0.001), $"KS D = {d:0.0000}");
        double mean = delays.Average();
        Assert.InRange(mean, 50_000 * (1 - 4 / Math.Sqrt(delays.Length)), 50_000 * (1 + 4 / Math.Sqrt(delays.Length))); // sd = mean
    }

    [Fact]
    public void JitterAddsToEachPairsOwnDelayAndIsDeterministicBySeed()
    {
        var rng = new Xoshiro256(3);
        var pairs = new CoordinateLatency(500, 2, 40_000, 1_000, 5_000, ref rng);
        LatencyModel Make(ulong seed) => new JitteredLatency(pairs, 10_000, new Xoshiro256(seed));
        LatencyModel a = Make(11), b = Make(11), c = Make(12);
        var extra = new List<double>();
        bool differs = false;
        for (int i = 0; i < 10_000; i++)
        {
            int s = i % 500, t = (i * 7 + 1) % 500;
            long da = a.MessageDelay(s, t);
            Assert.Equal(da, b.MessageDelay(s, t)); // same seed, same draws
            differs |= da != c.MessageDelay(s, t);
            Assert.True(da >= pairs.OneWay(s, t), "jitter only adds");
            extra.Add(da - pairs.OneWay(s, t));
            Assert.Equal(pairs.OneWay(s, t) + 10_000, a.OneWay(s, t));
        }
        Assert.True(differs, "another seed draws other delays");
        Assert.InRange(extra.Average(), 10_000 * (1 - 4 / Math.Sqrt(extra.Count)), 10_000 * (1 + 4 / Math.Sqrt(extra.Count)));
    }

    [Fact]
    public void ARunWithExponentialDelaysTakesTheMeanPerMessageAndIsReproducible()
    {
        // Static Chord: a lookup is hops forwards and one reply, each an independent draw of mean 50 ms, so the mean
        // latency is 50 ms × (mean hops + 1) (Wald's identity), within the sampling error of 20,000 lookups.
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", """
            name: exponential
            seed: 4
            nodes: 2000
            latency: { model: exponential, mean: 50ms }
            workload: { lookups: 20000, keys: 1000 }
            overlays: [chord]
            """);
        Scenario scenario = ScenarioLoader.Load(path, []);
        RunResult r = Runner.Execute(Runner.Plan(scenario), 1).Single().Result;
        double perMessage = r.LatencyMeanMs / (r.HopsMean + 1);
        Assert.InRange(perMessage, 50 * 0.98, 50 * 1.02);
        Assert.Equal(r.TraceHash, Runner.Execute(Runner.Plan(scenario), 1).Single().Result.TraceHash);
        // With constant delays of the same mean the latency is 50 ms per message, less the lookups the origin answers
        // itself (no message at all: about 1 in N).
        Scenario constant = ScenarioLoader.Load(dir.Write("c.yaml", File.ReadAllText(path).Replace("{ model: exponential, mean: 50ms }", "{ model: constant, delay: 50ms }")), []);
        RunResult c = Runner.Execute(Runner.Plan(constant), 1).Single().Result;
        Assert.InRange(c.LatencyMeanMs / (50.0 * (c.HopsMean + 1)), 1 - 2.0 / 2000, 1.0);
        Assert.NotEqual(c.LatencyP99Ms, r.LatencyP99Ms);
    }
}
