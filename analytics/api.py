"""The analyst API: read-only, token or session authenticated, scoped to the caller's labels.

Every view derives from LabelScopedView, which alone decides which labels a request may read;
subclasses describe their rows with ``label_queryset(label_ids)`` and cannot replace the scoping.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.exceptions import ValidationError

from analytics.models import Stat, StatCount
from analytics.params import BadParams, filters_parse
from analytics.selectors import _base, display, display_name
from catalog.models import Artist, Track
from labels.models import Label, Membership
from rooms.models import Room


class IsLabelStaff(permissions.BasePermission):
    """Only staff of at least one label: anyone else has no numbers to read here."""

    message = "This API serves label staff: your account belongs to no label."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_active
            and Membership.objects.filter(user=user).exists()
        )


class LabelScopedView(viewsets.GenericViewSet):
    permission_classes = [IsLabelStaff]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must not override get_queryset: use label_queryset")

    def label_ids(self) -> list[int]:
        user = self.request.user
        if not user.is_authenticated or not user.is_active:
            return []
        return list(Membership.objects.filter(user=user).values_list("label_id", flat=True))

    def label_queryset(self, label_ids: list[int]):
        raise NotImplementedError

    def get_queryset(self):
        return self.label_queryset(self.label_ids())


class RoomSerializer(serializers.ModelSerializer):
    class Meta:
        model = Room
        fields = ["id", "slug", "name", "label", "artist", "is_featured", "listener_count"]


class TrackSerializer(serializers.ModelSerializer):
    class Meta:
        model = Track
        fields = ["id", "title", "artist_names", "album", "isrc", "duration_ms", "label"]


class ArtistSerializer(serializers.ModelSerializer):
    class Meta:
        model = Artist
        fields = ["id", "name", "slug", "label"]


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "slug"]


class _ReadOnly(LabelScopedView, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    pass


class LabelViewSet(_ReadOnly):
    """The labels you are a member of."""

    serializer_class = LabelSerializer

    def label_queryset(self, label_ids):
        return Label.objects.filter(id__in=label_ids).order_by("id")


class RoomViewSet(_ReadOnly):
    """Your labels' rooms."""

    serializer_class = RoomSerializer

    def label_queryset(self, label_ids):
        return Room.objects.filter(label_id__in=label_ids).order_by("id")


class TrackViewSet(_ReadOnly):
    """Your labels' tracks."""

    serializer_class = TrackSerializer

    def label_queryset(self, label_ids):
        return Track.objects.filter(label_id__in=label_ids).order_by("id")


class ArtistViewSet(_ReadOnly):
    """Your labels' artists."""

    serializer_class = ArtistSerializer

    def label_queryset(self, label_ids):
        return Artist.objects.filter(label_id__in=label_ids).order_by("id")


class StatSerializer(serializers.Serializer):
    bucket_start = serializers.DateTimeField()
    granularity = serializers.CharField()
    entity_type = serializers.CharField()
    entity_id = serializers.IntegerField()
    stat = serializers.CharField()
    value = serializers.DecimalField(max_digits=20, decimal_places=3, coerce_to_string=False)

    def to_representation(self, row):
        data = super().to_representation(row)
        data["stat"] = display_name(row.stat)
        data["value"] = display(row.stat, row.value)
        if isinstance(data["value"], int):
            return data
        data["value"] = float(data["value"])
        return data


STAT_PARAMS = [
    OpenApiParameter("label", OpenApiTypes.INT, description="label id (default: your first)"),
    OpenApiParameter("from", OpenApiTypes.DATE, description="first day (UTC), default 28 days"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="last day (UTC), default today"),
    OpenApiParameter(
        "granularity",
        str,
        enum=["hour", "day", "week"],
        description="weeks run Monday to Sunday; with week, from and to widen to whole weeks",
    ),
    OpenApiParameter("entity", str, enum=["label", "room", "track", "artist"]),
    OpenApiParameter("room", OpenApiTypes.INT),
    OpenApiParameter("track", OpenApiTypes.INT),
    OpenApiParameter("artist", OpenApiTypes.INT),
    OpenApiParameter(
        "stat",
        str,
        many=True,
        enum=[display_name(s) for s in Stat.values],
        description="repeat or comma-separate",
    ),
]


class StatViewSet(LabelScopedView, mixins.ListModelMixin):
    """Time series of rolled-up stats: one row per bucket, entity and stat.

    listening time comes as `listening_minutes`; `unique_listeners` and `reach` are distinct
    counts of their bucket and cannot be added across buckets.
    """

    serializer_class = StatSerializer

    def label_queryset(self, label_ids):
        raw = self.request.query_params.get("label")
        if raw:
            try:
                label_id = int(raw)
            except ValueError:
                raise ValidationError({"detail": "label must be an id"}) from None
            if label_id not in label_ids:
                get_object_or_404(Label, id=-1)  # the same 404 as a label that does not exist
        elif label_ids:
            label_id = min(label_ids)
        else:
            return StatCount.objects.none()
        try:
            f = filters_parse(self.request.query_params, label_id=label_id)
        except BadParams as exc:
            raise ValidationError({"detail": str(exc)}) from None
        qs = _base(label_id, f.window).filter(entity_type=f.entity_type)
        if f.entity_type == "label":
            qs = qs.filter(entity_id=label_id)
        elif f.entity_id is not None:
            qs = qs.filter(entity_id=f.entity_id)
        if f.stats:
            qs = qs.filter(stat__in=f.stats)
        return qs.order_by("bucket_start", "entity_type", "entity_id", "stat")

    @extend_schema(parameters=STAT_PARAMS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)
