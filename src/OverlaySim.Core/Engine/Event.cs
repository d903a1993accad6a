namespace OverlaySim.Core;

/// <summary>
/// One pending event: an unmanaged value, 28 bytes, copied into a pooled slot when scheduled.
/// What the fields mean beyond <see cref="Sink"/> and <see cref="Dst"/> is up to the sink that receives it.
/// </summary>
/// <remarks>
/// <code>
/// 0        4        8        12       16       20   21   22   24       28
/// +--------+--------+--------+--------+--------+----+----+----+--------+
/// |  Dst   |  Src   | Lookup |  Arg   | Epoch  |Sink|Type| Aux|LookGen |
/// +--------+--------+--------+--------+--------+----+----+----+--------+
/// </code>
/// </remarks>
public struct Event
{
    /// <summary>Ordinal of the node the event is for, or -1 for an event that belongs to no node.</summary>
    public int Dst;
    /// <summary>Ordinal of the sending node for a message, or -1.</summary>
    public int Src;
    /// <summary>Slot of the lookup this event belongs to, or -1.</summary>
    public int Lookup;
    /// <summary>Sink-defined argument (a node ordinal, a counter, a finger index...).</summary>
    public int Arg;
    /// <summary>
    /// Incarnation of <see cref="Dst"/> the event was meant for. The engine drops the event at dispatch when
    /// the node has died or rejoined since (its epoch moved on): the lazy form of "cancel every event of a
    /// dead node", which costs one comparison instead of a search of the queue.
    /// </summary>
    public uint Epoch;
    /// <summary>Which registered <see cref="IEventSink"/> handles the event.</summary>
    public byte Sink;
    /// <summary>Sink-defined message or timer type.</summary>
    public byte Type;
    /// <summary>Sink-defined small argument.</summary>
    public ushort Aux;
    /// <summary>
    /// Generation of the lookup slot when the event was sent (set by <see cref="Transport.Send"/>): a message of a
    /// lookup that has since ended, and whose slot may serve another lookup now, is recognisably stale. Its top bit
    /// marks a lookup's message in flight (<see cref="LookupTable.InFlightMark"/>), cleared before a handler sees it.
    /// </summary>
    public uint LookupGen;
}
