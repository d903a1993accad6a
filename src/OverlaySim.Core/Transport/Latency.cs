using System.Runtime.CompilerServices;

namespace OverlaySim.Core;

/// <summary>
/// One-way message delay between two nodes, in microseconds. A model is built once per run from the
/// "latency" random stream and never draws afterwards, so the delays of a pair do not depend on traffic; only a
/// model with per-message delays (<see cref="PerMessage"/>) draws, from a stream of its own, once per message sent.
/// </summary>
public abstract class LatencyModel
{
    /// <summary>
    /// One-way delay from <paramref name="src"/> to <paramref name="dst"/> (node ordinals), in µs: every message's
    /// delay, or with per-message delays the pair's expected delay (what timeouts and proximity go by).
    /// </summary>
    public abstract long OneWay(int src, int dst);

    /// <summary>Whether each message draws its own delay (<see cref="MessageDelay"/>), so that a pair's messages may overtake each other.</summary>
    public virtual bool PerMessage => false;

    /// <summary>
    /// Whether OneWay(a, b) equals OneWay(b, a), bit for bit, for every pair: a round trip is then computed as twice
    /// one way, once. False unless a model guarantees it (a measured matrix need not be symmetric).
    /// </summary>
    public virtual bool Symmetric => false;

    /// <summary>The delay of one message sent now from <paramref name="src"/> to <paramref name="dst"/>, µs.</summary>
    public virtual long MessageDelay(int src, int dst) => OneWay(src, dst);

    /// <summary>Bytes this model keeps per node (for the memory estimate).</summary>
    public abstract int BytesPerNode { get; }

    /// <summary>Makes room for machines added during the run (churn); their delays follow the same formula.</summary>
    public virtual void EnsureMachines(int count) { }

    /// <summary>
    /// A hint that a delay from or to <paramref name="machine"/> will be asked for soon: a model that keeps state per
    /// machine fetches it toward the caches (see <see cref="CacheHint"/>). Never changes a delay.
    /// </summary>
    public virtual void Prefetch(int machine) { }
}

/// <summary><c>constant</c>: every message takes the same delay d. Formula: delay(a, b) = d.</summary>
public sealed class ConstantLatency(long delayMicros) : LatencyModel
{
    public long Delay { get; } = delayMicros;
    public override long OneWay(int src, int dst) => Delay;
    public override bool Symmetric => true;
    public override int BytesPerNode => 0;
}

/// <summary>
/// <c>uniform</c>: each unordered node pair gets a delay drawn uniformly from [min, max], fixed for the whole
/// run. Formula: delay(a, b) = min + u(a, b)·(max − min), with u a 53-bit hash of (stream seed, min(a,b),
/// max(a,b)) mapped to [0, 1). Nothing is stored: the hash recomputes the same draw every time.
/// </summary>
public sealed class UniformLatency : LatencyModel
{
    private readonly ulong _seed;
    private readonly long _min;
    private readonly long _span;

    public UniformLatency(long minMicros, long maxMicros, ulong streamSeed)
    {
        _min = minMicros;
        _span = maxMicros - minMicros;
        _seed = streamSeed;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public override long OneWay(int src, int dst)
    {
        uint a = (uint)Math.Min(src, dst), b = (uint)Math.Max(src, dst);
        ulong h = Xoshiro256.Mix(_seed, (ulong)a << 32 | b);
        double u = (h >> 11) * (1.0 / (1UL << 53));
        return _min + (long)(u * (_span + 1));
    }

    public override bool Symmetric => true;   // the pair is ordered before it is hashed

    public override int BytesPerNode => 0;
}

/// <summary>
/// <c>coordinates</c>: nodes placed uniformly at random in the unit d-cube; the one-way delay is the
/// Euclidean distance scaled so that its mean over random pairs equals the configured mean, plus a per-node
/// access delay at each end.
/// Formula: delay(a, b) = access(a) + mean · ‖x_a − x_b‖ / Δ_d + access(b), where Δ_d is the mean distance
/// of two uniform points in the unit d-cube (Δ_1 = 1/3, Δ_2 ≈ 0.521405, Δ_3 ≈ 0.661707; estimated with a fixed
/// seed for d ≥ 4) and access(n) is drawn per node uniformly from [access_min, access_max].
/// </summary>
public sealed class CoordinateLatency : LatencyModel
{
    private float[] _coords;
    private int[]? _access;
    private readonly int _dims;
    private readonly double _scale;
    private readonly long _accessMin, _accessMax;
    private Xoshiro256 _rng;   // continues past the initial placement, for machines added by churn
    private int _machines;

    public CoordinateLatency(int nodes, int dimensions, long meanMicros, long accessMinMicros, long accessMaxMicros, ref Xoshiro256 rng)
    {
        _dims = dimensions;
        _machines = nodes;
        _accessMin = accessMinMicros;
        _accessMax = accessMaxMicros;
        _coords = LargeArray.Zeroed<float>((long)nodes * dimensions);
        for (long i = 0; i < _coords.LongLength; i++) _coords[i] = (float)rng.NextDouble();
        if (accessMaxMicros > 0)
        {
            _access = new int[nodes];
            long span = accessMaxMicros - accessMinMicros;
            for (int i = 0; i < nodes; i++) _access[i] = (int)(accessMinMicros + (long)(rng.NextDouble() * (span + 1)));
        }
        _scale = meanMicros / MeanUnitCubeDistance(dimensions);
        _rng = rng;
    }

    /// <summary>New machines are placed like the first ones, each from the continuing stream in order of arrival.</summary>
    public override void EnsureMachines(int count)
    {
        if (count <= _machines) return;
        int capacity = Math.Max(count, _coords.Length / _dims * 2);
        if ((long)count * _dims > _coords.Length)
        {
            Array.Resize(ref _coords, capacity * _dims);
            if (_access is not null) Array.Resize(ref _access, capacity);
        }
        for (int m = _machines; m < count; m++)
        {
            for (int i = 0; i < _dims; i++) _coords[m * _dims + i] = (float)_rng.NextDouble();
            if (_access is not null) _access[m] = (int)(_accessMin + (long)(_rng.NextDouble() * (_accessMax - _accessMin + 1)));
        }
        _machines = count;
    }

    public int Dimensions => _dims;

    public ReadOnlySpan<float> Position(int node) => _coords.AsSpan(node * _dims, _dims);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public override long OneWay(int src, int dst)
    {
        int d = _dims;
        int a = src * d, b = dst * d;
        double sum = 0;
        for (int i = 0; i < d; i++)
        {
            double diff = _coords[a + i] - _coords[b + i];
            sum += diff * diff;
        }
        long delay = (long)(Math.Sqrt(sum) * _scale);
        if (_access is { } acc) delay += acc[src] + acc[dst];
        return delay;
    }

    /// <summary>Symmetric: a float difference only changes sign when its operands swap, and the access delays add up either way.</summary>
    public override bool Symmetric => true;

    public override void Prefetch(int machine)
    {
        if ((uint)machine >= (uint)_machines) return;
        CacheHint.Prefetch(in _coords[(long)machine * _dims]);
        if (_access is { } acc) CacheHint.Prefetch(in acc[machine]);
    }

    public override int BytesPerNode => _dims * sizeof(float) + (_access is null ? 0 : sizeof(int));

    /// <summary>Mean Euclidean distance between two independent uniform points of the unit d-cube.</summary>
    public static double MeanUnitCubeDistance(int d)
    {
        switch (d)
        {
            case 1: return 1.0 / 3.0;
            case 2: return 0.5214054331647207; // (2 + √2 + 5 ln(1 + √2)) / 15
            case 3: return 0.6617071822671762; // Robbins' constant
        }
        // No closed form in general: a fixed-seed Monte Carlo estimate (2^22 pairs, relative error ~1e-4),
        // identical on every machine because the seed and the arithmetic are fixed.
        var rng = new Xoshiro256(0x5eed_d15c_a1ceUL + (ulong)d);
        const int samples = 1 << 22;
        double total = 0;
        for (int s = 0; s < samples; s++)
        {
            double sum = 0;
            for (int i = 0; i < d; i++)
            {
                double diff = rng.NextDouble() - rng.NextDouble();
                sum += diff * diff;
            }
            total += Math.Sqrt(sum);
        }
        return total / samples;
    }
}

/// <summary>
/// <c>matrix</c>: a measured round-trip-time matrix between H hosts; nodes are mapped onto hosts and the
/// one-way delay is half the RTT. Formula: delay(a, b) = RTT[host(a), host(b)] / 2.
/// Mapping: a random permutation π of the hosts (from the latency stream); node i runs on host π[i mod H].
/// With N ≤ H every node has a host of its own; with N &gt; H hosts are shared as evenly as possible, and two
/// nodes on the same host see the matrix diagonal (0 in measured data sets).
/// </summary>
public sealed class MatrixLatency : LatencyModel
{
    private readonly int[] _oneWay; // H×H, µs
    private int[] _host;
    private readonly int[] _perm;
    private readonly int _hosts;

    /// <param name="rttMicros">Row-major H×H round-trip times in µs.</param>
    public MatrixLatency(int hosts, int[] rttMicros, int nodes, ref Xoshiro256 rng)
    {
        _hosts = hosts;
        _oneWay = new int[rttMicros.Length];
        for (int i = 0; i < rttMicros.Length; i++) _oneWay[i] = rttMicros[i] / 2;
        int[] perm = new int[hosts];
        for (int i = 0; i < hosts; i++) perm[i] = i;
        for (int i = hosts - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (perm[i], perm[j]) = (perm[j], perm[i]);
        }
        _perm = perm;
        _host = new int[nodes];
        for (int i = 0; i < nodes; i++) _host[i] = perm[i % hosts];
    }

    public override void EnsureMachines(int count)
    {
        if (count <= _host.Length) return;
        int old = _host.Length;
        Array.Resize(ref _host, Math.Max(count, old * 2));
        for (int i = old; i < _host.Length; i++) _host[i] = _perm[i % _hosts];
    }

    public int HostOf(int node) => _host[node];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public override long OneWay(int src, int dst) => _oneWay[_host[src] * _hosts + _host[dst]];

    public override int BytesPerNode => sizeof(int);
}

/// <summary>
/// Per-message delays: a base model's pair delay plus, for every message, an exponential extra delay of mean
/// <c>jitter</c> drawn from the "message-delay" stream, in the order messages are sent (so the same scenario and seed
/// give the same delays). <c>exponential</c> is this with a base of 0: each message's delay is exponential with the
/// given mean, as in the simulator of the Chord ToN paper (§V: "the delay of each packet is exponentially distributed
/// with mean 50 ms"). The pair's <see cref="LatencyModel.OneWay"/> is its expected delay, base + jitter, which is what RPC
/// timeouts set in round trips and proximity go by. Messages of one pair may overtake each other.
/// Formula: delay(a, b, message) = base(a, b) − jitter·ln(1 − u), u uniform in [0, 1) per message.
/// </summary>
public sealed class JitteredLatency : LatencyModel
{
    private readonly LatencyModel _base;
    private readonly double _jitter;
    private Xoshiro256 _rng;

    public JitteredLatency(LatencyModel baseModel, long jitterMicros, Xoshiro256 rng)
    {
        _base = baseModel;
        _jitter = jitterMicros;
        _rng = rng;
        Jitter = jitterMicros;
    }

    /// <summary>The mean of the per-message extra delay, µs.</summary>
    public long Jitter { get; }

    public LatencyModel Base => _base;

    public override bool PerMessage => true;

    public override long OneWay(int src, int dst) => _base.OneWay(src, dst) + Jitter;

    public override bool Symmetric => _base.Symmetric;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public override long MessageDelay(int src, int dst) => _base.OneWay(src, dst) + (long)(-_jitter * Math.Log(1 - _rng.NextDouble()));

    public override int BytesPerNode => _base.BytesPerNode;

    public override void EnsureMachines(int count) => _base.EnsureMachines(count);
}
