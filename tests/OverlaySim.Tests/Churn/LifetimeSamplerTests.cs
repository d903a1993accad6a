using MathNet.Numerics;
using OverlaySim.Core;
using Xunit;
using static OverlaySim.Tests.Churn.GoodnessOfFit;

namespace OverlaySim.Tests.Churn;

/// <summary>
/// The session and downtime lengths of lifetime churn follow the configured family and mean: a Kolmogorov–Smirnov
/// test of n draws against the CDF, the CDF itself against the closed forms, and the sample mean against the
/// configured mean within a tolerance derived from n and the distribution's standard deviation.
/// </summary>
/// <remarks>
/// Draws are whole microseconds (floored, at least 1), a shift of under 1 µs on means of an hour (3.6·10^9 µs):
/// it moves the empirical CDF by less than F(1 µs), about 2·10^-5 in the worst case here (Weibull k = 0.5), far
/// below the KS critical value. Seeds are fixed, so every run of these tests draws the same numbers; α says how
/// unlikely a failure would be if the sampler were right. MathNet draws all three families by inverting the CDF at
/// one uniform, so with one seed every family has the same D (KS is invariant under the monotone map): the KS test
/// checks the sampler against its CDF, the CDF and mean tests check that both are the configured distribution.
/// </remarks>
public class LifetimeSamplerTests
{
    private const long Hour = 3_600_000_000;
    private const int N = 20_000;

    private static double[] Draw(LifetimeDistribution family, double shape, long mean, ulong seed, int n = N)
    {
        var sampler = new LifetimeSampler(family, shape, new StreamRandom(new Xoshiro256(seed)));
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = sampler.Next(mean);
        return x;
    }

    /// <summary>The CDFs written out from the parameterisation by the mean (Churn.cs), independently of MathNet.</summary>
    private static double ClosedFormCdf(LifetimeDistribution family, double shape, double mean, double x) => family switch
    {
        LifetimeDistribution.Exponential => 1 - Math.Exp(-x / mean),
        // x_m = mean·(α−1)/α; F(x) = 1 − (x_m/x)^α for x ≥ x_m, 0 below.
        LifetimeDistribution.Pareto => x < mean * (shape - 1) / shape ? 0 : 1 - Math.Pow(mean * (shape - 1) / shape / x, shape),
        // λ = mean/Γ(1 + 1/k); F(x) = 1 − exp(−(x/λ)^k).
        _ => 1 - Math.Exp(-Math.Pow(x / (mean / SpecialFunctions.Gamma(1 + 1 / shape)), shape)),
    };

    public static TheoryData<LifetimeDistribution, double> Families => new()
    {
        { LifetimeDistribution.Exponential, 2.0 },
        { LifetimeDistribution.Pareto, 1.5 },   // infinite variance: KS needs no moments
        { LifetimeDistribution.Pareto, 2.5 },
        { LifetimeDistribution.Pareto, 4.0 },
        { LifetimeDistribution.Weibull, 0.5 },  // heavier tail than exponential
        { LifetimeDistribution.Weibull, 1.0 },  // exponential
        { LifetimeDistribution.Weibull, 3.0 },
    };

    [Theory]
    [MemberData(nameof(Families))]
    public void DrawsPassAKolmogorovSmirnovTestAgainstTheConfiguredDistribution(LifetimeDistribution family, double shape)
    {
        double[] x = Draw(family, shape, Hour, seed: 17);
        double d = KolmogorovSmirnov(x, v => LifetimeSampler.Cdf(family, shape, Hour, v));
        double critical = KsCritical(N, Alpha);
        Assert.True(d <= critical, $"{family} shape {shape}: KS D = {d:0.00000} > {critical:0.00000} (n = {N}, α = {Alpha})");
        Assert.All(x, v => Assert.True(v >= 1));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void TheCdfIsTheConfiguredDistribution(LifetimeDistribution family, double shape)
    {
        // Where the density is positive (for Pareto, from x_m = mean·(α−1)/α, at most 0.75·mean for α ≤ 4), at 0.8,
        // 1, 2 and 8 times the mean: the parameterisation by the mean, not just a consistent pair of sampler and CDF.
        foreach (double m in new[] { 0.8, 1, 2, 8 })
            Assert.Equal(ClosedFormCdf(family, shape, Hour, m * Hour), LifetimeSampler.Cdf(family, shape, Hour, m * Hour), 9);
    }

    /// <summary>A CDF is a probability: 0 below the support's start, never negative.</summary>
    [Fact]
    public void TheParetoCdfIsZeroBelowItsScale()
    {
        foreach (double shape in new[] { 1.5, 2.5, 4.0 })
        {
            double xm = Hour * (shape - 1) / shape;
            foreach (double x in new[] { 1.0, xm / 8, xm / 2, xm * 0.999 })
                Assert.Equal(0.0, LifetimeSampler.Cdf(LifetimeDistribution.Pareto, shape, Hour, x));
        }
    }

    /// <summary>
    /// The sample mean of n draws lies within z·σ/√n of the configured mean (two-sided, α = 0.001, z = 3.29).
    /// σ: exponential, the mean; Weibull, λ·sqrt(Γ(1+2/k) − Γ(1+1/k)²); Pareto, mean/sqrt(α(α−2)). Pareto only with
    /// α = 4: for α ≤ 2 the variance is infinite, and for α ≤ 3 the third moment is, so that the normal approximation
    /// of the mean (Berry–Esseen) has no bound at this n; at α = 4 it has.
    /// </summary>
    [Theory]
    [InlineData(LifetimeDistribution.Exponential, 2.0)]
    [InlineData(LifetimeDistribution.Pareto, 4.0)]
    [InlineData(LifetimeDistribution.Weibull, 0.5)]
    [InlineData(LifetimeDistribution.Weibull, 3.0)]
    public void TheSampleMeanIsTheConfiguredMean(LifetimeDistribution family, double shape)
    {
        const long mean = 20 * 60_000_000L; // 20 minutes
        double[] x = Draw(family, shape, mean, seed: 23);
        double sigma = family switch
        {
            LifetimeDistribution.Exponential => mean,
            LifetimeDistribution.Pareto => mean / Math.Sqrt(shape * (shape - 2)),
            _ => mean / SpecialFunctions.Gamma(1 + 1 / shape)
                 * Math.Sqrt(SpecialFunctions.Gamma(1 + 2 / shape) - Math.Pow(SpecialFunctions.Gamma(1 + 1 / shape), 2)),
        };
        double tolerance = Z(Alpha) * sigma / Math.Sqrt(N);
        double sampleMean = x.Average();
        Assert.True(Math.Abs(sampleMean - mean) <= tolerance,
            $"{family} shape {shape}: sample mean {sampleMean / 1e6:0.0} s, configured {mean / 1e6:0.0} s ± {tolerance / 1e6:0.0} s");
    }

    /// <summary>
    /// The KS test has teeth: draws whose mean is 10% off the one tested are rejected. For exponentials of means
    /// μ and 1.1·μ the CDFs differ most at x = μ·ln(1.1)/(1 − 1/1.1) ≈ 1.048·μ, by e^(−0.953) − e^(−1.048) ≈ 0.035,
    /// 2.5 times the critical value at n = 20,000.
    /// </summary>
    [Fact]
    public void TheKolmogorovSmirnovCheckRejectsAWrongMean()
    {
        double[] x = Draw(LifetimeDistribution.Exponential, 2.0, Hour * 11 / 10, seed: 17);
        double d = KolmogorovSmirnov(x, v => LifetimeSampler.Cdf(LifetimeDistribution.Exponential, 2.0, Hour, v));
        Assert.True(d > KsCritical(N, Alpha), $"D = {d:0.00000} should exceed {KsCritical(N, Alpha):0.00000}");
    }
}
