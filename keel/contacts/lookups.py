"""Database expressions for contact search, kept free of model imports so migrations can reference them."""

from django.db.models import CharField, Func


class SearchKey(Func):
    """``lower(column)`` compared byte by byte.

    A prefix search then becomes a plain range (``key >= 'smi' AND key < 'smj'``) that an expression index on
    (company, key) answers on both databases. On PostgreSQL the "C" collation makes the range exact whatever the
    database's locale; SQLite compares bytes already. The same expression must be used in the index and the query.
    """

    function = "LOWER"
    arity = 1
    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = self.as_sql(compiler, connection, **extra_context)
        return f'({sql} COLLATE "C")', params
