using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>The Napster-style central index's scenario parameters: this record is the schema, its initial values the defaults. Times in µs.</summary>
public sealed record NapsterOptions : IOptionsCheck
{
    [Param("μ: queries the index server answers per second, one at a time in arrival order (a FIFO queue with a fixed service time 1/μ)", Unit = ParamUnit.Rate, Min = 0.001, Max = 1e9)]
    public double ServiceRate { get; init; } = 10_000;

    [Param("holders listed in a reply at most (the client tries them in turn)", Min = 1, Max = 1000)]
    public int MaxResults { get; init; } = 10;

    [Param("time a client waits for the server's reply to a query it could not deliver, or for a holder it contacts", Unit = ParamUnit.Time, Min = 1_000, Max = 3_600_000_000)]
    public long RpcTimeout { get; init; } = 1_000_000;

    [Param("a query not answered by then has failed", Unit = ParamUnit.Time, Min = 1_000, Max = 86_400_000_000)]
    public long LookupTimeout { get; init; } = 60_000_000;

    [Param("the server crashes at this time (its index survives on disk; queries in its queue fail); 0 = never", Unit = ParamUnit.Time, Min = 0, Max = 365L * 86_400_000_000)]
    public long ServerDownAt { get; init; }

    [Param("how long the server stays down after server_down_at", Unit = ParamUnit.Time, Min = 1_000, Max = 365L * 86_400_000_000)]
    public long ServerDownFor { get; init; } = 600_000_000;

    [Param("static: the index registered from the global view, no keep-alives; dynamic: peers register on joining, deregister on leaving and send keep-alives (needed under churn)")]
    public OverlayProtocol Protocol { get; init; } = OverlayProtocol.Static;

    [Param("period of a peer's keep-alive to the server", Unit = ParamUnit.Time, Min = 1_000_000, Max = 86_400_000_000, Only = "protocol=dynamic")]
    public long KeepAlive { get; init; } = 60_000_000;

    [Param("the server drops a peer not heard from for this long (a crashed peer's entries stay listed until then)", Unit = ParamUnit.Time, Min = 1_000_000, Max = 86_400_000_000, Only = "protocol=dynamic")]
    public long KeepAliveTimeout { get; init; } = 180_000_000;

    public bool Dynamic => Protocol == OverlayProtocol.Dynamic;

    public IEnumerable<(string Param, string Problem)> Check(OptionsContext context)
    {
        if (Dynamic && KeepAliveTimeout < KeepAlive)
            yield return ("keep_alive_timeout", $"keep_alive_timeout {Units.FormatDuration(KeepAliveTimeout)} is shorter than the keep-alive period {Units.FormatDuration(KeepAlive)}: every live peer would be dropped between two keep-alives");
    }
}
