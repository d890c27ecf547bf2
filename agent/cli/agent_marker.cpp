// Marks the leakhound executable with a section of its own: a daemon never
// attaches to a leakhound (itself, another one, a renamed copy), whose
// mallocs it would otherwise trace while tracing (daemon::is_leakhound).
// `used` keeps it through the linker's garbage collection.
[[gnu::section(".leakhound.agent"), gnu::used]] static const char kAgentMarker[] =
    "leakhound agent";
