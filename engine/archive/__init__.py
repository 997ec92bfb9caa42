"""The archive as a thing at rest: its name and tar format, the codecs and encryption, the collection file names
of the mongodump layout, the manifest that commits it, the catalog of a storage's archives, holds, and the BSON
checker. Nothing here talks to MongoDB."""
