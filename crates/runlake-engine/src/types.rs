//! The SQL name of an Arrow type, one table for every place runlake shows one: `runlake
//! schema`, the Flight SQL server's column metadata (`ARROW:FLIGHT:SQL:TYPE_NAME`) and
//! its `GetXdbcTypeInfo` names.

use datafusion::arrow::datatypes::DataType;

/// `INTEGER`, `DOUBLE`, `VARCHAR`, `TIMESTAMP`, `BIGINT ARRAY`, ...: the names of the
/// XDBC type list (SQL:2016 spellings), the element type's name for a list.
pub fn sql_type_name(dt: &DataType) -> String {
    match dt {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 | DataType::UInt8 => "TINYINT".into(),
        DataType::Int16 | DataType::UInt16 => "SMALLINT".into(),
        DataType::Int32 | DataType::UInt32 => "INTEGER".into(),
        DataType::Int64 | DataType::UInt64 => "BIGINT".into(),
        DataType::Float16 | DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => "DECIMAL".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "BINARY".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(..) => "TIMESTAMP".into(),
        DataType::Interval(_) | DataType::Duration(_) => "INTERVAL".into(),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _) => {
            format!("{} ARRAY", sql_type_name(f.data_type()))
        }
        other => other.to_string().to_uppercase(),
    }
}
