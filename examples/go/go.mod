module runwayd-examples

go 1.19
