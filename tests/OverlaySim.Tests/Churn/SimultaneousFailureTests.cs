using OverlaySim.Core;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Churn;

/// <summary>
/// The SIGCOMM 2001 paper's Fig. 11 (scenarios/chord-sigcomm-fig11.yaml at p = 0.3): after a fraction p of 1,000 nodes
/// fails at once and the survivors have stabilized, lookups fail only for the keys lost with the failed nodes (keys are
/// not replicated); the ring itself answers every lookup correctly.
/// </summary>
public class SimultaneousFailureTests
{
    [Fact]
    public void AfterStabilizationOnlyTheLostKeysAreNotFound()
    {
        using var dir = new TempFolder();
        const double p = 0.3;
        const int keys = 100_000;
        string path = dir.Write("s.yaml", $$"""
            name: sigcomm-fig11
            seed: 1
            nodes: 1000
            duration: 25min
            measure_after: 15min
            latency: { model: coordinates, dimensions: 2, mean: 50ms }
            churn: { model: mass_failure, at: 5min, probability: {{p}} }
            workload: { lookups: 10000, rate: 20/s, keys: {{keys}}, start: 15min }
            overlays:
              - chord: { protocol: dynamic, lookup: iterative, successors: 20, replicas: 0 }
            """);
        RunResult r = Runner.Execute(Runner.Plan(ScenarioLoader.Load(path, [])), jobs: 1).Single().Result;
        Assert.Equal(10_000, r.Lookups);
        Assert.Equal(0, r.LookupsWrong + r.LookupsFailed);
        // The lost share of the keys is p up to the spread of the failed nodes' key shares (about 300 exponential shares
        // of mean 1/1000 and a binomial number of victims: a standard deviation near 0.023; four of them allowed).
        double lost = (double)r.KeysLost / keys;
        Assert.InRange(lost, p - 0.09, p + 0.09);
        // Each lookup draws its key uniformly, so the share not found is binomial around the lost share.
        double notFound = 1 - r.ValueFoundRate;
        double sigma = Math.Sqrt(lost * (1 - lost) / r.Lookups);
        Assert.True(Math.Abs(notFound - lost) <= 4 * sigma, $"{notFound:P2} of lookups found no value, {lost:P2} of the keys were lost (σ = {sigma:P2})");
    }
}
