using MathNet.Numerics.Distributions;

namespace OverlaySim.Tests.Churn;

/// <summary>The statistics the churn tests compare samples with, each with the tolerance it implies.</summary>
internal static class GoodnessOfFit
{
    /// <summary>
    /// The one-sample Kolmogorov–Smirnov statistic D = sup |F_n(x) − F(x)| of <paramref name="sample"/> against the
    /// continuous CDF <paramref name="cdf"/>: at the i-th smallest value (1-based) the empirical CDF steps from
    /// (i−1)/n to i/n, so D is the largest of i/n − F(x_(i)) and F(x_(i)) − (i−1)/n.
    /// </summary>
    public static double KolmogorovSmirnov(IEnumerable<double> sample, Func<double, double> cdf)
    {
        double[] x = sample.ToArray();
        Array.Sort(x);
        int n = x.Length;
        double d = 0;
        for (int i = 0; i < n; i++)
        {
            double f = cdf(x[i]);
            d = Math.Max(d, Math.Max((i + 1.0) / n - f, f - (double)i / n));
        }
        return d;
    }

    /// <summary>
    /// The asymptotic critical value of D at significance α: sqrt(−ln(α/2)/2)/sqrt(n), from the Kolmogorov
    /// distribution's tail P(√n·D &gt; c) ≈ 2·exp(−2c²). At α = 0.001 that is 1.949/√n (0.0138 for n = 20,000).
    /// </summary>
    public static double KsCritical(int n, double alpha) => Math.Sqrt(-Math.Log(alpha / 2) / 2) / Math.Sqrt(n);

    /// <summary>z with P(|Z| &gt; z) = α for a standard normal Z: the half-width, in standard errors, of a two-sided test.</summary>
    public static double Z(double alpha) => Normal.InvCDF(0, 1, 1 - alpha / 2);

    /// <summary>The significance of every statistical check here: a correct model fails one of them with probability 0.001.</summary>
    public const double Alpha = 0.001;
}
