using System.Collections.Concurrent;
using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace OverlaySim.Benchmarks;

/// <summary>The configuration every OverlaySim benchmark runs under (see benchmarks/README.md).</summary>
/// <remarks>
/// <para>Toolchain: in-process. BenchmarkDotNet 0.14 has no moniker for .NET 10, so its default toolchain
/// (generate, build and launch a child project per benchmark) cannot target this runtime; the in-process emit
/// toolchain runs the benchmarks in this very process, on whatever runtime started it. The price: no separate
/// launches (LaunchCount is meaningless) and the host's GC settings apply, which Directory.Build.props fixes to
/// workstation, non-concurrent GC, the same as the CLI.</para>
/// <para>Columns: Median and Min besides the mean, because the 2-core machine these run on is often shared
/// with other jobs, and the minimum is the statistic least disturbed by them; Events/op, Events/s and
/// Alloc/op (pass) come from <see cref="CaseFacts"/>.</para>
/// <para>Job: BenchmarkDotNet's ShortRun (1 launch, 3 warm-up and 3 measured iterations) so that the whole
/// suite stays within a few minutes on 2 cores. It is marked as the default job, so command-line options such
/// as <c>--iterationCount 15 --warmupCount 5</c> refine it instead of adding an out-of-process job.</para>
/// </remarks>
public static class BenchConfig
{
    /// <param name="threadCpuClock">Time with <see cref="ThreadCpuClock"/> instead of the wall clock.</param>
    public static IConfig Create(bool threadCpuClock)
    {
        Job job = Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance);
        job = threadCpuClock
            ? job.WithClock(ThreadCpuClock.Instance).WithId("ShortRun-InProcess-CpuClock")
            : job.WithId("ShortRun-InProcess");
        return DefaultConfig.Instance
            .AddJob(job.AsDefault())
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumn(StatisticColumn.Median, StatisticColumn.Min)
            .AddColumn(new EventsPerOperationColumn(), new EventsPerSecondColumn(), new SetupPassAllocationColumn());
    }
}

/// <summary>
/// What each benchmark case's global setup measured about one operation: the simulation events it processes
/// (1 for the queue's hold, measured for a Chord lookup) and the bytes it allocates over a long pass. Read back
/// by the summary columns, which works because the in-process toolchain runs setup and summary in one process.
/// </summary>
public static class CaseFacts
{
    private static readonly ConcurrentDictionary<string, (double Events, double Bytes)> ByCase = new(StringComparer.Ordinal);

    /// <param name="benchmarkType">The benchmark class as declared (not GetType(): the in-process toolchain
    /// runs an emitted subclass).</param>
    /// <param name="method">The benchmark method's name.</param>
    /// <param name="eventsPerOperation">Simulation events processed per operation.</param>
    /// <param name="bytesPerOperation">Bytes allocated per operation over a pass of many operations.</param>
    /// <param name="parameters">The case's [Params] values as (name, value) pairs, in any order.</param>
    public static void Register(Type benchmarkType, string method, double eventsPerOperation, double bytesPerOperation,
        params (string Name, object Value)[] parameters) =>
        ByCase[Key(benchmarkType, method, parameters)] = (eventsPerOperation, bytesPerOperation);

    public static (double Events, double Bytes)? Find(BenchmarkCase benchmarkCase)
    {
        var parameters = benchmarkCase.Parameters.Items.Select(p => (p.Name, p.Value)).ToArray();
        return ByCase.TryGetValue(Key(benchmarkCase.Descriptor.Type, benchmarkCase.Descriptor.WorkloadMethod.Name, parameters), out var facts) ? facts : null;
    }

    private static string Key(Type type, string method, (string Name, object Value)[] parameters) =>
        type.FullName + "." + method + "(" + string.Join(",", parameters
            .OrderBy(p => p.Name, StringComparer.Ordinal)
            .Select(p => p.Name + "=" + Convert.ToString(p.Value, CultureInfo.InvariantCulture))) + ")";
}

/// <summary>"Events/op": simulation events per benchmark operation (see <see cref="CaseFacts"/>).</summary>
public sealed class EventsPerOperationColumn : IColumn
{
    public string Id => "OverlaySim.EventsPerOp";
    public string ColumnName => "Events/op";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Simulation events dispatched per operation (1 for a queue hold; hops + reply for a lookup)";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        CaseFacts.Find(benchmarkCase) is { } f ? f.Events.ToString("0.###", CultureInfo.InvariantCulture) : "?";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
}

/// <summary>"Events/s": Events/op × 1e9 / (mean ns/op), the engine throughput this benchmark implies.</summary>
public sealed class EventsPerSecondColumn : IColumn
{
    public string Id => "OverlaySim.EventsPerSecond";
    public string ColumnName => "Events/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 1;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Events/op * 1e9 / Mean (ns): simulation events per second of wall-clock time";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        double? mean = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (mean is not double ns || ns <= 0 || CaseFacts.Find(benchmarkCase) is not { } f) return "?";
        double perSecond = f.Events * 1e9 / ns;
        return perSecond >= 1e6
            ? (perSecond / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + " M"
            : (perSecond / 1e3).ToString("0.0", CultureInfo.InvariantCulture) + " k";
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
}

/// <summary>
/// "Alloc/op (pass)": bytes allocated per operation over a pass of 2^16 operations run in the global setup,
/// counted with GC.GetAllocatedBytesForCurrentThread. BenchmarkDotNet's Allocated column samples one extra
/// iteration, so it misses allocations that happen in rare bursts (a list doubling); this one does not.
/// </summary>
public sealed class SetupPassAllocationColumn : IColumn
{
    public string Id => "OverlaySim.AllocPerOpPass";
    public string ColumnName => "Alloc/op (pass)";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 2;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Bytes allocated per operation over 2^16 operations in the global setup (amortized bursts included)";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        CaseFacts.Find(benchmarkCase) is { } f ? f.Bytes.ToString("0.##", CultureInfo.InvariantCulture) + " B" : "?";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
}
