namespace OverlaySim.Core;

/// <summary>
/// Fixed-size blocks of items (node ordinals; Kademlia's contacts with their ids) that a message can carry by
/// reference: an event holds the block's index (in <see cref="Event.Arg"/>, say), the receiver reads the block and
/// frees it. This is how a reply carries a list of contacts (Kademlia's k closest, a successor list) without an
/// allocation per message.
/// </summary>
/// <remarks>
/// The content is fixed when the message is sent, as a real message's would be. A block whose message is dropped
/// (its receiver died) must still be freed: the sender's sink gets the event back through
/// <see cref="IUndeliverableSink"/> and frees it there. Memory: sizeof(T)·size + 8 bytes per block in use.
/// </remarks>
public sealed class PayloadPool<T> where T : unmanaged
{
    private readonly int _size;
    private T[] _data;
    private int[] _length;
    private int[] _free;
    private int _freeCount;
    private int _used;

    public PayloadPool(int blockSize, int initialBlocks = 256)
    {
        _size = blockSize;
        _data = new T[blockSize * initialBlocks];
        _length = new int[initialBlocks];
        _free = new int[initialBlocks];
    }

    public int BlockSize => _size;

    public int InUse => _used - _freeCount;

    public int Allocate()
    {
        if (_freeCount > 0) return _free[--_freeCount];
        if (_used == _length.Length)
        {
            int n = _length.Length * 2;
            Array.Resize(ref _data, n * _size);
            Array.Resize(ref _length, n);
            Array.Resize(ref _free, n);
        }
        _length[_used] = 0;
        return _used++;
    }

    public Span<T> Block(int id) => _data.AsSpan(id * _size, _size);

    public int Length(int id) => _length[id];

    public void SetLength(int id, int length) => _length[id] = length;

    public ReadOnlySpan<T> Items(int id) => _data.AsSpan(id * _size, _length[id]);

    public void Free(int id)
    {
        _length[id] = 0;
        _free[_freeCount++] = id;
    }
}
