// NFTables
