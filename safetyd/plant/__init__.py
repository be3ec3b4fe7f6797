"""Plant I/O: outputs the floor can see (stack lights, andons, PLC inputs) and machine
states that arm zones, over Modbus TCP."""
