namespace OverlaySim.Overlays;

/// <summary>Which model of an overlay runs (scenario key <c>protocol</c>).</summary>
public enum OverlayProtocol : byte
{
    /// <summary>The converged network, built from the global view: no maintenance, cannot follow churn.</summary>
    Static,
    /// <summary>The protocol run message by message: joins, maintenance, failures (needed under churn).</summary>
    Dynamic,
}
