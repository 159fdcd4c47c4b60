package block

// Table is a sequence's block table: the physical blocks that hold its
// tokens, in logical order, like a process's page table. Token at position
// p lives in Blocks()[p/blockSize] at offset p%blockSize.
//
// The zero Table is empty and ready for Manager.Allocate. Only the Manager
// changes a Table, which keeps reference counts honest.
type Table struct {
	ids []int32
	// The leading numHashed blocks are full and computed, and hash is the
	// cumulative hash of block numHashed-1: the next block's parent.
	numHashed int
	hash      uint64
}

// Blocks returns the physical block ids in logical order. The slice belongs
// to the table and is valid until the Manager next changes it.
func (t *Table) Blocks() []int32 { return t.ids }

// Len is the number of blocks in the table.
func (t *Table) Len() int { return len(t.ids) }

// Capacity is the number of tokens the table's blocks can hold.
func (t *Table) Capacity(blockSize int) int { return len(t.ids) * blockSize }

// Slot is the KV-cache slot of the token at position pos:
// blockID*blockSize + pos%blockSize. pos must be below Capacity.
func (t *Table) Slot(pos, blockSize int) int32 {
	return t.ids[pos/blockSize]*int32(blockSize) + int32(pos%blockSize)
}
