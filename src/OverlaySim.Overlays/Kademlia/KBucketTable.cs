using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>What happened to a contact offered to a k-bucket (compare libp2p's kbucket insert results).</summary>
public enum BucketUpdate : byte
{
    /// <summary>Already there: moved to the tail (most recently seen).</summary>
    Refreshed,
    /// <summary>New, and the bucket had room: appended.</summary>
    Inserted,
    /// <summary>New, and the bucket is full: the contact waits in the replacement cache; the head should be pinged.</summary>
    Full,
}

/// <summary>
/// Every node's k-buckets: Kademlia's routing table (Maymounkov and Mazières, §2.2). Bucket b of node n holds up to k
/// contacts whose ids share exactly b leading bits with n's (the last bucket: at least b), ordered by last seen, head =
/// least recently seen; each bucket has a replacement cache of recent newcomers that found it full.
/// </summary>
/// <remarks>
/// <para>Buckets are indexed by common-prefix length up to B = log2 N + 3 (<see cref="Buckets"/>), and every deeper
/// contact shares the last bucket: the paper's bucket splitting reaches the same shape. Struct of arrays, fixed stride
/// (B·k contacts per node), grown with the node table.</para>
/// <para>Memory: 4·k·B bytes of contacts and B of counts per node; with replacement caches of c entries (the protocol)
/// 4·c·B + B more, plus 8·B of bucket refresh times and 4·B of ping targets.</para>
/// </remarks>
public sealed class KBucketTable : KBuckets
{
    private readonly Network _net;
    private readonly int _k, _b, _c;
    private readonly NodeArray<int> _contacts;      // node × B × k
    private readonly NodeArray<byte> _count;        // node × B
    private readonly NodeArray<int>? _cache;        // node × B × c
    private readonly NodeArray<byte>? _cacheCount;  // node × B
    private readonly NodeArray<long>? _touched;     // node × B: last lookup through the bucket
    private readonly NodeArray<int>? _pingTarget;   // node × B: the head being pinged for eviction, -1 none

    /// <param name="cache">Replacement cache entries per bucket; with <paramref name="maintained"/> false (the converged
    /// model) neither caches, refresh times nor ping targets are kept.</param>
    public KBucketTable(Network net, int k, int buckets, int cache, bool maintained) : base(net, k, buckets)
    {
        _net = net;
        _k = k;
        _b = buckets;
        _c = maintained ? cache : 0;
        if ((long)net.Nodes.SlotCapacity * _b * _k > Array.MaxLength)
            throw new InsufficientMemoryException($"the k-buckets of {net.Nodes.SlotCapacity} nodes ({_b} buckets of k = {_k}) exceed the largest array .NET can hold; use fewer nodes");
        _contacts = net.NodeArray<int>(_b * _k);
        _count = net.NodeArray<byte>(_b);
        if (maintained)
        {
            _cache = net.NodeArray<int>(Math.Max(1, _b * _c));
            _cacheCount = net.NodeArray<byte>(_b);
            _touched = net.NodeArray<long>(_b);
            _pingTarget = net.NodeArray(_b, -1);
        }
    }

    /// <summary>The node's row in the per-node arrays (its state slot): a retired node has none, and reading it fails.</summary>
    private int Slot(int n) => _net.Nodes.Slots[n];

    /// <summary>The contacts of one bucket, head (least recently seen) first.</summary>
    public ReadOnlySpan<int> Contacts(int n, int b)
    {
        int bi = Slot(n) * _b + b;
        return _contacts.Items.AsSpan(bi * _k, _count.Items[bi]);
    }

    public override int Count(int n, int b) => _count.Items[Slot(n) * _b + b];

    protected override void Append(int n, int b, Span<Contact> buffer, ref int count)
    {
        Id[] ids = _net.Nodes.Ids;
        foreach (int c in Contacts(n, b)) buffer[count++] = new Contact(ids[c], c);
    }

    /// <summary>Fills a bucket from the global view (the converged start).</summary>
    public void Set(int n, int b, ReadOnlySpan<int> contacts)
    {
        int bi = Slot(n) * _b + b;
        contacts.CopyTo(_contacts.Items.AsSpan(bi * _k, _k));
        _count.Items[bi] = (byte)contacts.Length;
    }

    /// <summary>Empties every bucket of a node that (re)joins; its refresh times start now.</summary>
    public void Reset(int n, long now)
    {
        for (int b = 0; b < _b; b++)
        {
            int bi = Slot(n) * _b + b;
            _count.Items[bi] = 0;
            _cacheCount!.Items[bi] = 0;
            _pingTarget!.Items[bi] = -1;
            _touched!.Items[bi] = now;
        }
    }

    /// <summary>
    /// n heard from <paramref name="contact"/>: a known contact moves to the tail, a new one is appended to a bucket with
    /// room; a full bucket keeps its contacts, the newcomer waits in its replacement cache, and the caller decides whether
    /// to ping the head (<paramref name="head"/>, <paramref name="bucket"/>).
    /// </summary>
    public BucketUpdate Update(int n, int contact, out int bucket, out int head)
    {
        bucket = BucketOf(n, _net.Nodes.Ids[contact]);
        int bi = Slot(n) * _b + bucket;
        int baseIndex = bi * _k, count = _count.Items[bi];
        head = -1;
        for (int i = 0; i < count; i++)
        {
            if (_contacts.Items[baseIndex + i] != contact) continue;
            for (int j = i; j < count - 1; j++) _contacts.Items[baseIndex + j] = _contacts.Items[baseIndex + j + 1];
            _contacts.Items[baseIndex + count - 1] = contact;
            return BucketUpdate.Refreshed;
        }
        if (count < _k)
        {
            _contacts.Items[baseIndex + count] = contact;
            _count.Items[bi] = (byte)(count + 1);
            return BucketUpdate.Inserted;
        }
        AddToCache(bi, contact);
        head = _contacts.Items[baseIndex];
        return BucketUpdate.Full;
    }

    private void AddToCache(int bi, int contact)
    {
        if (_c == 0) return; // replacement_cache: 0, newcomers to a full bucket are not remembered
        int baseIndex = bi * _c, count = _cacheCount!.Items[bi];
        for (int i = 0; i < count; i++)
            if (_cache!.Items[baseIndex + i] == contact) return;
        if (count == _c)
        {
            for (int i = 0; i < count - 1; i++) _cache!.Items[baseIndex + i] = _cache.Items[baseIndex + i + 1];
            count--;
        }
        _cache!.Items[baseIndex + count] = contact;
        _cacheCount.Items[bi] = (byte)(count + 1);
    }

    /// <summary>Removes an unreachable contact from n's bucket, promoting the most recent replacement if any.</summary>
    public void Remove(int n, int contact)
    {
        int bi = Slot(n) * _b + BucketOf(n, _net.Nodes.Ids[contact]);
        int baseIndex = bi * _k, count = _count.Items[bi];
        for (int i = 0; i < count; i++)
        {
            if (_contacts.Items[baseIndex + i] != contact) continue;
            for (int j = i; j < count - 1; j++) _contacts.Items[baseIndex + j] = _contacts.Items[baseIndex + j + 1];
            count--;
            if (_c > 0 && _cacheCount!.Items[bi] > 0)
            {
                int cc = --_cacheCount.Items[bi];
                _contacts.Items[baseIndex + count++] = _cache!.Items[bi * _c + cc];
            }
            _count.Items[bi] = (byte)count;
            return;
        }
    }

    /// <summary>The contact of bucket b being pinged to decide an eviction, or -1.</summary>
    public ref int PingTarget(int n, int b) => ref _pingTarget!.Items[Slot(n) * _b + b];

    /// <summary>When a lookup last went through bucket b of n (tRefresh counts from it).</summary>
    public ref long Touched(int n, int b) => ref _touched!.Items[Slot(n) * _b + b];
}
